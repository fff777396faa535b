namespace QstOrleans.Tests.Distributed;

/// <summary>
/// Jobs can be listed, paused, resumed and cancelled. "Stopped" is observed from outside the job grain: the
/// <see cref="AppliedRecorder"/> call filter counts the micro-batches fed to the side trainer and those reported
/// applied, so a test waits until nothing is in flight and then checks that nothing more is fed or stepped.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class JobControlTests(ClusterFixture cluster)
{
    const int Window = 2;
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    JobSpec Spec(int steps) => new()
    {
        ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = steps, Epochs = 10, MicroBatchSize = 4,
        Seed = 4, Stages = 2, Window = Window,
    };

    /// <summary>The job's progress, the side trainer's own counters and the recorder's view of the feed, read together.</summary>
    sealed record Observation(JobProgress Job, SideStatus Side, AppliedRecorder.Pipeline Feed)
    {
        /// <summary>What must not move once the pipeline has stopped.</summary>
        public (int Step, int SideSteps, long SideApplied, int Submitted, int Applied) Counters =>
            (Job.Step, Side.Steps, Side.Applied, Feed.Submitted, Feed.Applied);
    }

    async Task<Observation> Observe(string jobId)
    {
        var progress = await cluster.Grains.GetGrain<ITrainingJobGrain>(jobId).GetProgress();
        var side = await cluster.Grains.GetGrain<ISideTrainerGrain>(jobId).GetStatus();
        return new Observation(progress, side, AppliedRecorder.Observe(jobId, progress.Attempt));
    }

    /// <summary>
    /// Waits until the job is in <paramref name="state"/> with nothing in flight and every counter unchanged for 10
    /// polls in a row. A pipeline that keeps feeding never satisfies this, so the wait itself fails the test.
    /// </summary>
    Task<Observation> UntilStopped(string jobId, JobState state) => Eventually.WaitUntilSteady(
        $"job {jobId} to stop ({state}, nothing in flight, no step or feed moving)",
        () => Observe(jobId), o => o.Counters, o => o.Job.State == state && o.Feed.InFlight == 0,
        polls: 10, Timeout, poll: TimeSpan.FromMilliseconds(100));

    [Fact]
    public async Task PausedJobStopsAdvancingAndResumesToTheEnd()
    {
        const string id = "pause-resume";
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>(id);
        Assert.Equal(JobState.Running, (await job.Start(Spec(30))).State);
        await WaitFor(job, p => p.Step >= 2);
        await job.Pause();

        var paused = await UntilStopped(id, JobState.Paused);
        Assert.True(paused.Job.Step < 30, $"the job finished before it could be paused (step {paused.Job.Step})");
        // The side trainer itself stopped where the job says it is: every fed micro-batch applied, no step beyond.
        Assert.Equal(paused.Job.Step, paused.Side.Steps);
        Assert.Equal(paused.Feed.Applied, paused.Side.Applied);

        await job.Resume();
        var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
        Assert.Equal(JobState.Completed, done.State);
        Assert.Equal(30, done.Losses.Count);
        // Pausing lost and repeated nothing: every micro-batch fed once and applied once.
        var applied = AppliedRecorder.For(id, done.Attempt);
        Assert.Equal(AppliedRecorder.SubmittedFor(id, done.Attempt).Keys.Order(), applied.Keys.Order());
        Assert.All(applied.Values, n => Assert.Equal(1, n));
        Assert.Contains(id, await cluster.Grains.GetGrain<IJobRegistryGrain>(0).List());
        await cluster.Grains.GetGrain<ISideTrainerGrain>(id).Shutdown();
    }

    [Fact]
    public async Task CancelledJobStopsAndTheStagesServeTheNextJob()
    {
        const string id = "to-cancel";
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>(id);
        Assert.Equal(JobState.Running, (await job.Start(Spec(500))).State);
        await WaitFor(job, p => p.Step >= 1);
        await job.Cancel();
        var atCancel = await Observe(id);
        Assert.Equal(JobState.Cancelled, atCancel.Job.State);
        Assert.Equal($"cancelled by the user after {atCancel.Job.Step} steps", atCancel.Job.Message);

        var stopped = await UntilStopped(id, JobState.Cancelled);
        // Nothing was fed after the cancel returned (one SubmitBatch may still have been on the wire when it did), the
        // job's step froze at the cancel, and the side trainer applied only what was already in the window.
        Assert.InRange(stopped.Feed.Submitted, atCancel.Feed.Submitted, atCancel.Feed.Submitted + 1);
        Assert.Equal(atCancel.Job.Step, stopped.Job.Step);
        Assert.InRange(stopped.Side.Steps, atCancel.Job.Step, atCancel.Job.Step + Window + 1);
        await cluster.Grains.GetGrain<ISideTrainerGrain>(id).Shutdown();

        var next = cluster.Grains.GetGrain<ITrainingJobGrain>("after-cancel");
        Assert.Equal(JobState.Running, (await next.Start(Spec(3))).State);
        Assert.Equal(JobState.Completed, (await JobWait.UntilFinished(next, TimeSpan.FromMinutes(2))).State);
        await cluster.Grains.GetGrain<ISideTrainerGrain>("after-cancel").Shutdown();
    }

    static Task WaitFor(ITrainingJobGrain job, Func<JobProgress, bool> condition) =>
        Eventually.WaitUntil("the job to reach the condition", () => job.GetProgress(), condition, Timeout,
            abort: p => p.IsFinished ? $"job finished early: {p.State} {p.Message}" : null);
}
