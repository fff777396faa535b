using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;
using QstOrleans.Grains.Placement;

namespace QstOrleans.Tests.Distributed;

/// <summary>
/// The side trainer lands on the silo of the job's last stage when that silo has a device slot no stage uses, and
/// elsewhere when it has none: on a cluster of two silos with two CPU slots each ("Primary/cpu:0..1",
/// "Secondary_1/cpu:0..1"), a 2-stage job uses Primary/cpu:0 and Secondary_1/cpu:0 (the planner spreads stages over
/// silos), so the last stage's silo Secondary_1 has room; a 3-stage job adds Primary/cpu:1 as its last stage, Primary
/// is then full and the side trainer must go to Secondary_1, the only silo with a free slot.
/// </summary>
public sealed class SideTrainerPlacementTests : IDisposable
{
    readonly TestDirectory _dir = new();

    [Fact]
    public async Task TheSideTrainerSitsWithTheLastStageWhenItsSiloHasRoomElseOnAFreeSlot()
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 5);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["data.jsonl"], 32, seed: 5);
        var cluster = QstTestSilo.Build(2, _dir.Path, durableState: false, slotsPerSilo: 2);
        try
        {
            foreach (var (stages, expectNear) in new[] { (2, true), (3, false) })
            {
                var job = cluster.Client.GetGrain<ITrainingJobGrain>($"placement-{stages}");
                var started = await job.Start(new JobSpec
                {
                    ModelDirectory = _dir["tiny"], DataFile = _dir["data.jsonl"], MaxSteps = 2, MicroBatchSize = 4, Stages = stages, Window = 2,
                });
                Assert.True(started.State == JobState.Running, started.Message);
                var slots = started.Placement.OrderBy(kv => StageKey.Parse(kv.Key).First).Select(kv => kv.Value).ToList();
                Assert.Equal(stages, slots.Count);
                string lastSilo = slots[^1].Split('/')[0];
                if (expectNear)
                    Assert.Equal(lastSilo, started.SideSilo);
                else
                {
                    Assert.Equal("Primary/cpu:1", slots[^1]);   // the planner's third pick: Primary is now full
                    Assert.Equal(cluster.Silos.Single(s => s != cluster.Primary).Name, started.SideSilo);
                }
                var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(2));
                Assert.True(done.State == JobState.Completed, $"{stages} stages: {done.State} {done.Message}");
                Assert.Equal(started.SideSilo, done.SideSilo);
            }
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    static DeviceSlot Slot(string silo, int device) => new($"{silo}/cpu:{device}", silo, $"cpu:{device}", 4);

    [Fact]
    public void TheChoiceFollowsFreeSlots()
    {
        var silos = new List<(string, IReadOnlyList<DeviceSlot>)>
        {
            ("a", [Slot("a", 0), Slot("a", 1)]), ("b", [Slot("b", 0), Slot("b", 1), Slot("b", 2)]), ("c", [Slot("c", 0)]),
        };
        // Last stage on b/cpu:0, b has two free slots: b.
        Assert.Equal("b", SideTrainerPlacementDirector.Choose(silos, "b/cpu:0", new HashSet<string> { "a/cpu:0", "b/cpu:0" }));
        // Last stage on c/cpu:0 (c full): the silo with most free slots, b (2) over a (1).
        Assert.Equal("b", SideTrainerPlacementDirector.Choose(silos, "c/cpu:0", new HashSet<string> { "a/cpu:0", "b/cpu:0", "c/cpu:0" }));
        // Ties go by silo name: a and b both have one free slot.
        Assert.Equal("a", SideTrainerPlacementDirector.Choose(silos, "c/cpu:0", new HashSet<string> { "a/cpu:0", "b/cpu:0", "b/cpu:1", "c/cpu:0" }));
        // No free slot anywhere: no choice (the director falls back to a random silo).
        var all = silos.SelectMany(s => s.Item2).Select(s => s.Id).ToHashSet();
        Assert.Null(SideTrainerPlacementDirector.Choose(silos, "c/cpu:0", all));
    }

    public void Dispose() => _dir.Dispose();
}
