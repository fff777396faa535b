using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;

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

        var done = await JobWait.UntilFinished(good, TimeSpan.FromMinutes(3));
        Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
        Assert.Equal(8, done.Losses.Count);
        var slots = await cluster.Grains.GetGrain<IClusterSlotsGrain>(0).List();
        Assert.Equal(ClusterFixture.Silos, slots.Count);   // every silo still up and offering its slot
        await cluster.Grains.GetGrain<ISideTrainerGrain>("good-beside-bad").Shutdown();
    }

    async Task AssertFails(string id, JobSpec spec, string expected)
    {
        var progress = await cluster.Grains.GetGrain<ITrainingJobGrain>(id).Start(spec);
        Assert.Equal(JobState.Failed, progress.State);
        Assert.Contains(expected, progress.Message);
        var again = await cluster.Grains.GetGrain<ITrainingJobGrain>(id).GetProgress();
        Assert.Equal(JobState.Failed, again.State);
    }

    JobSpec Valid() => new()
    {
        ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = 2, MicroBatchSize = 4, Seed = 3, Stages = 1,
    };
}
