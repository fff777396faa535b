namespace QstOrleans.Tests.Distributed;

/// <summary>
/// A fault reported for the attempt a recovery is bringing up (its new pipeline broke before the recovery finished) is
/// queued and recovered from right after, not dropped; before, it was lost and the job sat until the watchdog's stall
/// timeout. The job still ends bitwise equal to the single-process trainer.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class QueuedFaultTests(ClusterFixture cluster, ITestOutputHelper output)
{
    const int Steps = 10;

    JobSpec Spec() => new()
    {
        ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = Steps, MicroBatchSize = 4,
        GradientAccumulation = 2, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 12, Window = 3, Stages = 2, CheckpointEverySteps = 2,
    };

    [Fact]
    public async Task AFaultDuringARecoveryIsRecoveredFromAfterIt()
    {
        var (localLosses, _) = LocalReference.Run(Spec(), cluster.Scratch($"local-{Guid.NewGuid():N}"));
        string jobId = $"queued-{Guid.NewGuid():N}"[..20];
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>(jobId);
        Assert.Equal(JobState.Running, (await job.Start(Spec())).State);
        await JobWait.Until(job, p => p.Step >= 3 && p.LastCheckpointStep >= 2, TimeSpan.FromMinutes(2));

        await job.ReportFault(0, "test: first fault");
        var recovering = await JobWait.Until(job, p => p.Attempt == 1, TimeSpan.FromMinutes(1));
        // Attempt 1 is being brought up (or has just been): its pipeline breaks too.
        await job.ReportFault(1, "test: fault while recovering");
        output.WriteLine($"second fault sent while the first recovery was {(recovering.Recoveries[0].ResumedFromStep < 0 ? "running" : "done")}");

        var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(2));
        Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
        Assert.Equal(2, done.Attempt);
        Assert.Equal(["test: first fault", "test: fault while recovering"], done.Recoveries.Select(r => r.Reason));
        Assert.Equal(localLosses, done.Losses);
        await cluster.Grains.GetGrain<ISideTrainerGrain>(jobId).Shutdown();
    }
}
