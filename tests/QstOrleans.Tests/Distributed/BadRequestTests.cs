namespace QstOrleans.Tests.Distributed;

/// <summary>
/// Bad requests fail the job with a clear message to the client; the silos stay up and a job already
/// running on the same stages is unaffected.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class BadRequestTests(ClusterFixture cluster)
{
    [Fact]
    public async Task BadJobsFailClearlyWhileAGoodJobCompletes()
    {
        var good = cluster.Grains.GetGrain<ITrainingJobGrain>("good-beside-bad");
        var started = await good.Start(Valid() with { MaxSteps = 8, Stages = 2 });
        Assert.True(started.State == JobState.Running, started.Message);

        string badData = cluster.Scratch("bad-data.jsonl");
        File.WriteAllLines(badData, ["{\"instruction\": \"a\", \"output\": \"b\"}", "{\"instruction\": \"c\", \"output\": "]);

        await AssertFails("bad-model", Valid() with { ModelDirectory = cluster.Scratch("no-such-model") }, "no-such-model");
        await AssertFails("bad-data", Valid() with { DataFile = badData }, "bad-data.jsonl:2");
        await AssertFails("bad-config", Valid() with { Qst = new QstSpec { R = 7 } }, "not divisible by r = 7");
        await AssertFails("too-many-stages", Valid() with { Stages = ClusterFixture.Silos + 1 }, $"{ClusterFixture.Silos + 1} stages need {ClusterFixture.Silos + 1} device slots");
        await AssertFails("bad-schedule", Valid() with { Schedule = "sawtooth" }, "sawtooth");
        await AssertFails("bad-checkpoint-steps", Valid() with { CheckpointEverySteps = -1 }, "CheckpointEverySteps must be >= 0");
        await AssertFails("bad-checkpoint-minutes", Valid() with { CheckpointEveryMinutes = -0.5 }, "CheckpointEveryMinutes must be >= 0");

        var done = await JobWait.UntilFinished(good, TimeSpan.FromMinutes(3));
        Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
        Assert.Equal(8, done.Losses.Count);
        Assert.Equal(done.Losses.Skip(5), await good.GetLosses(6));   // the offset read serves the same history
        Assert.Empty(await good.GetLosses(9));
        var slots = await cluster.Grains.GetGrain<IClusterSlotsGrain>(0).List();
        Assert.Equal(ClusterFixture.Silos, slots.Count);   // every silo still up and offering its slot
        await cluster.Grains.GetGrain<ISideTrainerGrain>("good-beside-bad").Shutdown();
    }

    [Fact]
    public async Task ACheckpointOfAnotherTrainingSpecIsRefused()
    {
        const string id = "checkpointed-then-respecced";
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>(id);
        var started = await job.Start(Valid() with { MaxSteps = 3, CheckpointEverySteps = 1 });
        Assert.True(started.State == JobState.Running, started.Message);
        var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(2));
        Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
        // Every step is checkpointed, the last one with the job's result before the job completes; the job hears of the
        // commit one-way (it may trail Completed). The test silos keep the newest 2.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await job.GetProgress()).LastCheckpointStep < 3 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(3, (await job.GetProgress()).LastCheckpointStep);
        var listed = await job.ListCheckpoints();
        Assert.Equal([2L, 3L], listed.Select(c => c.Step));
        Assert.Contains(listed, c => c.IsLatest && c.Step == 3 && c.Bytes > 0);

        // The same job id under another seed must not continue from those weights.
        var side = cluster.Grains.GetGrain<ISideTrainerGrain>(id);
        var other = Valid() with { MaxSteps = 3, Seed = 4 };
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => side.Initialize(new SideSpec(id, other, 3, 5, 24), attempt: 7));
        Assert.Contains("spec hash", error.Message);
        Assert.Contains(id, error.Message);
        await side.Shutdown();
    }

    async Task AssertFails(string id, JobSpec spec, string expected)
    {
        var progress = await cluster.Grains.GetGrain<ITrainingJobGrain>(id).Start(spec);
        Assert.Equal(JobState.Failed, progress.State);
        Assert.Contains(expected, progress.Message);
        var again = await cluster.Grains.GetGrain<ITrainingJobGrain>(id).GetProgress();
        Assert.Equal(JobState.Failed, again.State);
        Assert.DoesNotContain(id, await cluster.Grains.GetGrain<IJobRegistryGrain>(0).List());   // rejected: not registered
    }

    JobSpec Valid() => new()
    {
        ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = 2, MicroBatchSize = 4, Seed = 3, Stages = 1,
    };
}
