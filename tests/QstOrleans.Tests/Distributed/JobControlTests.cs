using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Tests.Distributed;

/// <summary>Jobs can be listed, paused, resumed and cancelled.</summary>
[Collection(ClusterCollection.Name)]
public sealed class JobControlTests(ClusterFixture cluster)
{
    JobSpec Spec(int steps) => new()
    {
        ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = steps, Epochs = 10, MicroBatchSize = 4,
        Seed = 4, Stages = 2, Window = 2,
    };

    [Fact]
    public async Task PausedJobStopsAdvancingAndResumesToTheEnd()
    {
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>("pause-resume");
        Assert.Equal(JobState.Running, (await job.Start(Spec(30))).State);
        await WaitFor(job, p => p.Step >= 2);
        await job.Pause();
        await Task.Delay(1500);   // let the window drain
        int stepAfterDrain = (await job.GetProgress()).Step;
        await Task.Delay(1500);
        var paused = await job.GetProgress();
        Assert.Equal(JobState.Paused, paused.State);
        Assert.Equal(stepAfterDrain, paused.Step);
        Assert.True(paused.Step < 30, "the job finished before it could be paused");
        await job.Resume();
        var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
        Assert.Equal(JobState.Completed, done.State);
        Assert.Equal(30, done.Losses.Count);
        Assert.Contains("pause-resume", await cluster.Grains.GetGrain<IJobRegistryGrain>(0).List());
        await cluster.Grains.GetGrain<ISideTrainerGrain>("pause-resume").Shutdown();
    }

    [Fact]
    public async Task CancelledJobStopsAndTheStagesServeTheNextJob()
    {
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>("to-cancel");
        Assert.Equal(JobState.Running, (await job.Start(Spec(500))).State);
        await WaitFor(job, p => p.Step >= 1);
        await job.Cancel();
        var cancelled = await job.GetProgress();
        Assert.Equal(JobState.Cancelled, cancelled.State);
        await Task.Delay(1000);
        Assert.True((await job.GetProgress()).Step < 500);
        await cluster.Grains.GetGrain<ISideTrainerGrain>("to-cancel").Shutdown();

        var next = cluster.Grains.GetGrain<ITrainingJobGrain>("after-cancel");
        Assert.Equal(JobState.Running, (await next.Start(Spec(3))).State);
        Assert.Equal(JobState.Completed, (await JobWait.UntilFinished(next, TimeSpan.FromMinutes(2))).State);
        await cluster.Grains.GetGrain<ISideTrainerGrain>("after-cancel").Shutdown();
    }

    static async Task WaitFor(ITrainingJobGrain job, Func<JobProgress, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            var p = await job.GetProgress();
            Assert.False(p.IsFinished && !condition(p), $"job finished early: {p.State} {p.Message}");
            if (condition(p)) return;
            await Task.Delay(50);
        }
        throw new TimeoutException("condition not reached");
    }
}
