namespace QstOrleans.Tests.Distributed;

/// <summary>
/// Two jobs on the same model and split share the backbone stage grains (the backbone is frozen, so its
/// work is the same for both), run at the same time, and each ends exactly as it would alone.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SharedStagesTests(ClusterFixture cluster)
{
    [Fact]
    public async Task TwoConcurrentJobsShareStagesAndMatchTheirSoloRuns()
    {
        JobSpec SpecFor(long seed) => new()
        {
            ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = 5, MicroBatchSize = 4,
            GradientAccumulation = 1, LearningRate = 1e-2, Seed = seed, Stages = 2, Window = 2,
        };
        var soloA = await Run("solo-a", SpecFor(21));
        var soloB = await Run("solo-b", SpecFor(22));
        // Other tests of this cluster use the same stage grains: count this test's micro-batches from here.
        var stageKeys = soloB.Placement.Keys.Order().ToList();
        var before = await ProcessedBy(stageKeys);

        var a = cluster.Grains.GetGrain<ITrainingJobGrain>("together-a");
        var b = cluster.Grains.GetGrain<ITrainingJobGrain>("together-b");
        var started = await Task.WhenAll(a.Start(SpecFor(21)), b.Start(SpecFor(22)));
        Assert.All(started, p => Assert.True(p.State == JobState.Running, p.Message));
        // Same model + split → the same stage grains (keys include model, layer range and slot).
        Assert.Equal(started[0].Placement.Keys.Order(), started[1].Placement.Keys.Order());
        var done = await Task.WhenAll(JobWait.UntilFinished(a, TimeSpan.FromMinutes(3)), JobWait.UntilFinished(b, TimeSpan.FromMinutes(3)));
        Assert.All(done, p => Assert.True(p.State == JobState.Completed, $"{p.JobId}: {p.State} {p.Message}"));

        Assert.Equal(soloA.Losses, done[0].Losses);
        Assert.Equal(soloB.Losses, done[1].Losses);
        Assert.NotEqual(done[0].Losses, done[1].Losses);   // different seeds: the comparison can tell jobs apart
        await AssertSameWeights("solo-a", "together-a");
        await AssertSameWeights("solo-b", "together-b");

        // The shared stages processed both jobs' micro-batches: 2 jobs × 5 steps × 1 micro-batch each, no more, no less.
        Assert.Equal(stageKeys, started[0].Placement.Keys.Order());
        var after = await ProcessedBy(stageKeys);
        Assert.Equal(before.Select(n => n + 2 * 5), after);
        foreach (var id in new[] { "solo-a", "solo-b", "together-a", "together-b" })
            await cluster.Grains.GetGrain<ISideTrainerGrain>(id).Shutdown();
    }

    async Task<long[]> ProcessedBy(IEnumerable<string> stageKeys) =>
        (await Task.WhenAll(stageKeys.Select(k => cluster.Grains.GetGrain<IBackboneStageGrain>(k).GetStatus()))).Select(s => s.Processed).ToArray();

    async Task<JobProgress> Run(string id, JobSpec spec)
    {
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>(id);
        var started = await job.Start(spec);
        Assert.True(started.State == JobState.Running, started.Message);
        var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
        Assert.True(done.State == JobState.Completed, $"{id}: {done.State} {done.Message}");
        return done;
    }

    async Task AssertSameWeights(string expectedJob, string actualJob)
    {
        var expected = await cluster.Grains.GetGrain<ISideTrainerGrain>(expectedJob).GetWeights();
        var actual = await cluster.Grains.GetGrain<ISideTrainerGrain>(actualJob).GetWeights();
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, payload) in expected)
            Assert.True(payload.Data.AsSpan().SequenceEqual(actual[name].Data), $"{actualJob}: weight '{name}' differs from {expectedJob}");
    }
}
