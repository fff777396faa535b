namespace QstOrleans.Tests.Distributed;

/// <summary>
/// Recovery without killing anything: a fault reported mid-run (as a stage would after a failed send) rolls the alive
/// side trainer back to its latest checkpoint and replays from there. Counted from outside (a grain call filter), every
/// micro-batch of the final attempt is applied exactly once from the checkpoint on, the first attempt never applied
/// one twice, and the result equals the single-process trainer bitwise.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class RollbackTests(ClusterFixture cluster, ITestOutputHelper output)
{
    const int Steps = 10, Accumulation = 2;

    JobSpec Spec() => new()
    {
        ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = Steps, MicroBatchSize = 4,
        GradientAccumulation = Accumulation, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 9, Window = 3, Stages = 2,
        CheckpointEverySteps = 2,
    };

    [Fact]
    public async Task ReportedFaultRollsBackToTheCheckpointAndAppliesEachMicroBatchOnce()
    {
        var (localLosses, localWeights) = LocalReference.Run(Spec(), cluster.Scratch($"local-{Guid.NewGuid():N}"));
        int faultStep = new Random(4).Next(3, Steps - 2);
        output.WriteLine($"fault reported at step >= {faultStep}");
        string jobId = $"rollback-{Guid.NewGuid():N}"[..20];
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>(jobId);
        var started = await job.Start(Spec());
        Assert.True(started.State == JobState.Running, started.Message);

        var before = await JobWait.Until(job, p => p.Step >= faultStep && p.LastCheckpointStep >= 2, TimeSpan.FromMinutes(2));
        Assert.Equal(JobState.Running, before.State);
        await job.ReportFault(before.Attempt, "test: forced rollback");
        var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(2));

        Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
        Assert.Equal(Steps, done.Step);
        Assert.Equal(1, done.Attempt);
        var recovery = Assert.Single(done.Recoveries);
        output.WriteLine($"recovered from step {recovery.ResumedFromStep}, first step {recovery.SecondsToFirstStep:F2} s after the fault");
        Assert.True(recovery.ResumedFromStep >= 2 && recovery.ResumedFromStep % 2 == 0, $"resumed from step {recovery.ResumedFromStep}");
        Assert.NotNull(recovery.SecondsToFirstStep);
        Assert.Equal(localLosses, done.Losses);

        var side = cluster.Grains.GetGrain<ISideTrainerGrain>(jobId);
        var status = await side.GetStatus();
        long resumedFrom = (long)recovery.ResumedFromStep * Accumulation;
        Assert.Equal(resumedFrom, status.ResumedFrom);
        Assert.Equal(Steps * Accumulation - resumedFrom, status.Applied);
        // Seen from outside: attempt 1 applied exactly the micro-batches after the checkpoint, each once.
        var final = AppliedRecorder.For(jobId, 1);
        Assert.Equal(Enumerable.Range((int)resumedFrom, Steps * Accumulation - (int)resumedFrom).Select(i => (long)i), final.Keys.Order());
        Assert.All(final.Values, n => Assert.Equal(1, n));
        // Attempt 0 never applied a micro-batch twice and applied every one up to the checkpoint it was rolled back to
        // (whether it got further depends on when the fault arrived: it may land right at the checkpoint's step).
        var first = AppliedRecorder.For(jobId, 0);
        Assert.All(first.Values, n => Assert.Equal(1, n));
        Assert.Equal(Enumerable.Range(0, (int)resumedFrom).Select(i => (long)i), first.Keys.Where(k => k < resumedFrom).Order());

        LocalReference.AssertSameWeights(localWeights, await side.GetWeights());
        await side.Shutdown();
    }
}
