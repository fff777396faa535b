namespace QstOrleans.Tests.Distributed;

/// <summary>
/// The pipeline's own counters (per stage: compute, send, idle; side: compute, idle) account for the
/// work of a 2-stage job, and are printed per micro-batch as the time split of a run.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PipelineTimeSplitTests(ClusterFixture cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task TwoStageRunReportsItsTimeSplit()
    {
        var spec = new JobSpec
        {
            ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = 12, MicroBatchSize = 4,
            LearningRate = 1e-2, Seed = 8, Stages = 2, Window = 4, BackboneFormat = "nf4",
        };
        // A model directory of its own gives this job fresh stage grains, so their counters are this run's alone.
        string model = cluster.Scratch("tiny-time-split");
        if (!Directory.Exists(model)) CopyDirectory(cluster.ModelDirectory, model);
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>("time-split");
        var started = await job.Start(spec with { ModelDirectory = model });
        Assert.True(started.State == JobState.Running, started.Message);
        var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
        Assert.Equal(JobState.Completed, done.State);

        var stages = await Task.WhenAll(done.Placement.Keys.Select(k => cluster.Grains.GetGrain<IBackboneStageGrain>(k).GetStatus()));
        var side = await cluster.Grains.GetGrain<ISideTrainerGrain>("time-split").GetStatus();
        Assert.All(stages, s => Assert.Equal(12, s.Processed));
        Assert.Equal(12, side.Applied);
        foreach (var s in stages)
        {
            Assert.True(s.ComputeSeconds > 0 && s.SendSeconds > 0 && s.BytesSent > 0, $"{s.Key}: no work recorded");
            // The worker's own time line: computing or waiting for work. Sends overlap the next micro-batch's compute (and lean
            // projections go out from their own worker), so send time is concurrent and not part of this sum.
            Assert.True(s.ComputeSeconds + s.WaitSeconds <= s.AliveSeconds * 1.01, $"{s.Key}: compute + wait exceed wall time");
            output.WriteLine($"stage {s.Key} on {s.Silo}: per micro-batch compute {1000 * s.ComputeSeconds / s.Processed:F1} ms, " +
                             $"send {1000 * s.SendSeconds / s.Processed:F1} ms ({s.BytesSent / s.Processed / 1024} KiB), utilisation {done.StageUtilisation[s.Key]:P0}");
        }
        Assert.True(side.ComputeSeconds > 0);
        output.WriteLine($"side trainer on {side.Silo}: per micro-batch compute {1000 * side.ComputeSeconds / side.Applied:F1} ms, " +
                         $"waiting {1000 * side.WaitSeconds / side.Applied:F1} ms; {done.TokensPerSecond:F0} tokens/s end to end");
        await cluster.Grains.GetGrain<ISideTrainerGrain>("time-split").Shutdown();
    }

    static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }
}
