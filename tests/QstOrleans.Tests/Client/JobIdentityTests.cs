using QstOrleans.Client;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Client;

/// <summary>
/// Job ids as an app author meets them through <see cref="QstClient"/>: an unknown id fails at once with
/// <see cref="JobNotFoundException"/> (and cancelling it leaves nothing behind), a repeated submit of the same spec says it
/// found the existing job, and a submit of another spec under a used id is refused with the differing fields.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class JobIdentityTests(ClusterFixture cluster)
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    JobSpec Spec(int steps) => new()
    {
        ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = steps, Epochs = 10, MicroBatchSize = 4,
        Seed = 5, Stages = 1, Window = 2,
    };

    [Fact]
    public async Task UnknownIdFailsEveryCallAndCancellingItCreatesNoPhantomJob()
    {
        var client = new QstClient(cluster.Grains);
        const string id = "never-submitted";
        Assert.Equal(id, (await Assert.ThrowsAsync<JobNotFoundException>(() => client.StatusAsync(id))).JobId);
        await Assert.ThrowsAsync<JobNotFoundException>(() => client.PauseAsync(id));
        await Assert.ThrowsAsync<JobNotFoundException>(() => client.ResumeAsync(id));
        await Assert.ThrowsAsync<JobNotFoundException>(() => client.CancelAsync(id));
        await Assert.ThrowsAsync<JobNotFoundException>(async () => { await foreach (var _ in client.WatchAsync(id)) { } });
        await Assert.ThrowsAsync<JobNotFoundException>(async () => { await foreach (var _ in client.FollowAsync(id, TimeSpan.Zero)) { } });
        Assert.Null(await client.FindAsync(id));
        Assert.DoesNotContain(id, await cluster.Grains.GetGrain<IJobRegistryGrain>(0).List());

        // The cancel above stored nothing: a submit under the id starts a real job, which runs to the end.
        var submitted = await client.SubmitAsync(id, Spec(2));
        Assert.Equal(SubmitOutcome.Started, submitted.Outcome);
        Assert.Equal(JobState.Running, submitted.Progress.State);
        var done = await JobWait.UntilFinished(cluster.Grains.GetGrain<ITrainingJobGrain>(id), Timeout);
        Assert.Equal(JobState.Completed, done.State);
        Assert.Equal(2, done.Losses.Count);
        await cluster.Grains.GetGrain<ISideTrainerGrain>(id).Shutdown();
    }

    [Fact]
    public async Task RepeatedSubmitFindsTheJobAndAnotherSpecIsRefusedWithTheDifferences()
    {
        var client = new QstClient(cluster.Grains);
        const string id = "submitted-twice";
        Assert.Equal(SubmitOutcome.Started, (await client.SubmitAsync(id, Spec(3))).Outcome);
        var again = await client.SubmitAsync(id, Spec(3));
        Assert.True(again.Existed);
        Assert.Contains(again.Outcome, new[] { SubmitOutcome.AlreadySubmitted, SubmitOutcome.AlreadyFinished });

        var conflict = await Assert.ThrowsAsync<JobSpecConflictException>(() => client.SubmitAsync(id, Spec(4) with { Seed = 6 }));
        Assert.Equal(id, conflict.JobId);
        Assert.Equal(["Config.Schedule.MaxSteps: 3 → 4", "Config.Schedule.Seed: 5 → 6"], conflict.Differences);
        Assert.Contains("Config.Schedule.MaxSteps: 3 → 4", conflict.Message);

        var done = await JobWait.UntilFinished(cluster.Grains.GetGrain<ITrainingJobGrain>(id), Timeout);
        Assert.Equal(JobState.Completed, done.State);
        var afterEnd = await client.SubmitAsync(id, Spec(3));
        Assert.Equal(SubmitOutcome.AlreadyFinished, afterEnd.Outcome);
        Assert.Equal(JobState.Completed, afterEnd.Progress.State);
        Assert.Equal(done.Losses, afterEnd.Progress.Losses);   // the existing run, not a new one
        await cluster.Grains.GetGrain<ISideTrainerGrain>(id).Shutdown();
    }

    [Fact]
    public async Task ARejectedSubmitSaysSo()
    {
        var client = new QstClient(cluster.Grains);
        var rejected = await client.SubmitAsync("rejected-spec", Spec(2) with { ModelDirectory = cluster.Scratch("no-such-model") });
        Assert.Equal(SubmitOutcome.Rejected, rejected.Outcome);
        Assert.Equal(JobState.Failed, rejected.Progress.State);
        Assert.Contains("no-such-model", rejected.Progress.Message);
    }
}
