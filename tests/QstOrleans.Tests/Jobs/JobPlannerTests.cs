using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;
using QstOrleans.Grains.Jobs;
using QstOrleans.Grains.Jobs.Planning;

namespace QstOrleans.Tests.Jobs;

/// <summary>
/// Planning off the grain scheduler, cached per silo: a second plan of the same spec and data re-uses the tokenized data
/// and places the stages on the slots live now, exactly as <see cref="JobPlan.Build"/> places them.
/// </summary>
public sealed class JobPlannerTests : IDisposable
{
    readonly TestDirectory _dir = new();
    readonly string _model;
    readonly string _data;

    public JobPlannerTests()
    {
        _model = _dir["tiny"];
        _data = _dir["data.jsonl"];
        MakeModelCommand.Run("tiny", _model, seed: 5);
        SyntheticDatasets.WriteAlpacaJsonl(_data, 40, seed: 5);
    }

    public void Dispose() => _dir.Dispose();

    JobSpec Spec(int stages = 2) => new() { ModelDirectory = _model, DataFile = _data, MicroBatchSize = 4, MaxSteps = 3, Seed = 2, Stages = stages };

    static IReadOnlyList<DeviceSlot> Slots(params string[] silos) => silos.Select(s => new DeviceSlot($"{s}/cpu:0", s, "cpu:0", 8)).ToList();

    /// <summary>The real build, counted, with the scheduler it ran on.</summary>
    sealed class CountingBuild
    {
        public int Calls;
        public List<TaskScheduler> Schedulers { get; } = [];

        public Task<JobPlan> Build(JobSpec spec, IReadOnlyList<DeviceSlot> live)
        {
            Interlocked.Increment(ref Calls);
            lock (Schedulers) Schedulers.Add(TaskScheduler.Current);
            return JobPlan.Build(spec, new SlotSnapshot(live), fitToSlots: true);
        }
    }

    [Fact]
    public async Task ASecondPlanReusesTheTokenizedDataAndPlacesOnTheLiveSlots()
    {
        var build = new CountingBuild();
        var planner = new JobPlanner(new JobPlanCache(), build.Build);
        var first = await planner.PlanAsync(Spec(), Slots("a", "b", "c"), fitToSlots: false);
        // A recovery after silo "a" died: same data, placement over what is left.
        var second = await planner.PlanAsync(Spec(), Slots("b", "c"), fitToSlots: true);
        Assert.Equal(1, build.Calls);
        Assert.Same(first.Batches, second.Batches);
        var expected = await JobPlan.Build(Spec(), new SlotSnapshot(Slots("b", "c")), fitToSlots: true);   // the uncached path
        Assert.Equal(expected.StageKeys, second.StageKeys);
        Assert.Equal(expected.Stages, second.Stages);
        Assert.Equal(expected.TotalSteps, second.TotalSteps);
        Assert.DoesNotContain(second.Stages, s => s.Slot.Silo == "a");

    }

    [Fact]
    public async Task ASpecThatDiffersOnlyInItsLayoutIsValidatedAgain()
    {
        var build = new CountingBuild();
        var planner = new JobPlanner(new JobPlanCache(), build.Build);
        await planner.PlanAsync(Spec(), Slots("a", "b"), false);
        // Window and checkpoint intervals do not change the data, but Build checks them: no cache hit may skip that.
        var error = await Assert.ThrowsAsync<ArgumentException>(() => planner.PlanAsync(Spec() with { CheckpointEverySteps = -1 }, Slots("a", "b"), false));
        Assert.Contains("CheckpointEverySteps must be >= 0", error.Message);
        var wider = await planner.PlanAsync(Spec() with { Window = 7 }, Slots("a", "b"), false);
        Assert.Equal(7, wider.Spec.Window);
        Assert.Equal(3, build.Calls);
    }

    [Fact]
    public async Task TokenizingRunsOffTheCallersScheduler()
    {
        var build = new CountingBuild();
        var planner = new JobPlanner(new JobPlanCache(), build.Build);
        var grainLike = new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler;   // one turn at a time, like a grain
        await Task.Factory.StartNew(() => planner.PlanAsync(Spec(), Slots("a", "b"), false), CancellationToken.None, TaskCreationOptions.None, grainLike).Unwrap();
        Assert.Equal([TaskScheduler.Default], build.Schedulers);
    }

    [Fact]
    public async Task AChangedDataFileIsPlannedAgain()
    {
        var build = new CountingBuild();
        var planner = new JobPlanner(new JobPlanCache(), build.Build);
        var before = await planner.PlanAsync(Spec(), Slots("a", "b"), false);
        SyntheticDatasets.WriteAlpacaJsonl(_data, 80, seed: 6);
        File.SetLastWriteTimeUtc(_data, DateTime.UtcNow.AddMinutes(1));
        var after = await planner.PlanAsync(Spec(), Slots("a", "b"), false);
        Assert.Equal(2, build.Calls);
        Assert.True(after.Batches.RowCount > before.Batches.RowCount);
    }

    [Fact]
    public async Task ABadRequestIsNotCachedAndARefusedPlacementNamesTheProblem()
    {
        var build = new CountingBuild();
        var planner = new JobPlanner(new JobPlanCache(), build.Build);
        var missing = Spec() with { DataFile = _dir["missing.jsonl"] };
        await Assert.ThrowsAnyAsync<Exception>(() => planner.PlanAsync(missing, Slots("a", "b"), false));
        await Assert.ThrowsAnyAsync<Exception>(() => planner.PlanAsync(missing, Slots("a", "b"), false));
        Assert.Equal(2, build.Calls);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => planner.PlanAsync(Spec(stages: 3), Slots("a", "b"), false));
        Assert.Contains("3 stages need 3 device slots", error.Message);
    }

    [Fact]
    public async Task TheCacheIsBoundedLeastRecentlyUsedFirst()
    {
        var cache = new JobPlanCache(capacity: 2);
        int builds = 0;
        Task<JobPlan> Build() { builds++; return Task.FromResult<JobPlan>(null!); }
        await cache.GetOrAdd("a", Build);
        await cache.GetOrAdd("b", Build);
        await cache.GetOrAdd("a", Build);   // a is now the most recent
        await cache.GetOrAdd("c", Build);   // evicts b
        Assert.Equal(3, builds);
        Assert.Equal(2, cache.Count);
        await cache.GetOrAdd("a", Build);
        Assert.Equal(3, builds);
        await cache.GetOrAdd("b", Build);
        Assert.Equal(4, builds);
    }
}
