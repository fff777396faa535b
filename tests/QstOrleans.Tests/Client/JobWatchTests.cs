using QstOrleans.Client;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Client;

/// <summary>
/// Pushed progress: <see cref="QstClient.WatchAsync"/> delivers every step once, in order, with the loss the job records
/// and the lr of the spec's schedule, ending with the final state; a watch from step k starts after k; and
/// <see cref="QstClient.PauseAsync"/> with awaitQuiescence returns only when nothing is in flight (checked against the
/// <see cref="AppliedRecorder"/>'s count of micro-batches fed and applied, and the side trainer's own counters).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class JobWatchTests(ClusterFixture cluster)
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    const double LearningRate = 3e-3;

    JobSpec Spec(int steps) => new()
    {
        ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = steps, Epochs = 10, MicroBatchSize = 4,
        GradientAccumulation = 2, Seed = 7, Stages = 2, Window = 3, LearningRate = LearningRate, Schedule = "constant",
    };

    [Fact]
    public async Task EveryStepArrivesOnceInOrderThenTheFinalState()
    {
        var client = new QstClient(cluster.Grains);
        const string id = "watched";
        Assert.Equal(SubmitOutcome.Started, (await client.SubmitAsync(id, Spec(6))).Outcome);
        using var timeout = new CancellationTokenSource(Timeout);
        var events = new List<JobEvent>();
        await foreach (var e in client.WatchAsync(id, cancel: timeout.Token)) events.Add(e);

        var final = await client.StatusAsync(id);
        Assert.Equal(JobState.Completed, final.State);
        var steps = events.OfType<JobStepCompleted>().ToList();
        Assert.Equal(Enumerable.Range(1, 6), steps.Select(s => s.Step));
        // The losses the job grain recorded (its loss history) are the ones pushed, bitwise.
        Assert.Equal(final.Losses, steps.Select(s => s.Loss));
        Assert.All(steps, s => Assert.Equal(LearningRate, s.LearningRate));
        Assert.All(steps, s => Assert.Equal(6, s.TotalSteps));
        var last = Assert.IsType<JobStateChanged>(events[^1]);
        Assert.Equal(JobState.Completed, last.State);
        Assert.Equal(6, last.Step);

        // A late watcher asking from step 4 gets steps 5 and 6 from the history, then the final state, and the stream ends.
        var late = new List<JobEvent>();
        await foreach (var e in client.WatchAsync(id, afterStep: 4, cancel: timeout.Token)) late.Add(e);
        Assert.Equal([5, 6], late.OfType<JobStepCompleted>().Select(s => s.Step));
        Assert.Equal(final.Losses.Skip(4), late.OfType<JobStepCompleted>().Select(s => s.Loss));
        Assert.True(late[^1] is JobStateChanged { State: JobState.Completed });

        // FollowAsync, built on the watch: snapshots whose steps never go back, ending completed.
        var snapshots = new List<JobProgress>();
        await foreach (var p in client.FollowAsync(id, TimeSpan.Zero, timeout.Token)) snapshots.Add(p);
        Assert.Equal(JobState.Completed, snapshots[^1].State);
        await cluster.Grains.GetGrain<ISideTrainerGrain>(id).Shutdown();
    }

    [Fact]
    public async Task PauseAwaitingQuiescenceReturnsWithNothingInFlight()
    {
        var client = new QstClient(cluster.Grains);
        const string id = "pause-quiet";
        Assert.Equal(SubmitOutcome.Started, (await client.SubmitAsync(id, Spec(60))).Outcome);
        using var timeout = new CancellationTokenSource(Timeout);
        await foreach (var e in client.WatchAsync(id, cancel: timeout.Token))
            if (e is JobStepCompleted { Step: >= 2 }) break;

        var paused = await client.PauseAsync(id, awaitQuiescence: true, timeout.Token);
        Assert.NotNull(paused);
        Assert.True(paused.IsQuiescent, $"pause returned {paused}");
        // At the moment it returned: every micro-batch fed to the side trainer was applied, and the job and the side
        // trainer agree on the step.
        var progress = await client.StatusAsync(id);
        var feed = AppliedRecorder.Observe(id, progress.Attempt);
        var side = await cluster.Grains.GetGrain<ISideTrainerGrain>(id).GetStatus();
        Assert.Equal(JobState.Paused, progress.State);
        Assert.Equal(0, progress.InFlight);
        Assert.Equal(0, feed.InFlight);
        Assert.Equal(feed.Applied, side.Applied);
        Assert.Equal(progress.Step, side.Steps);

        // Cancelled while quiescent: nothing is in flight, so the side trainer shuts down at once.
        await client.CancelAsync(id);
        Assert.Equal(JobState.Cancelled, (await client.StatusAsync(id)).State);
        await cluster.Grains.GetGrain<ISideTrainerGrain>(id).Shutdown();
    }
}
