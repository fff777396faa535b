using QstOrleans.Grains.Side;
using QstOrleans.Storage.Blobs;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Tests.Checkpoints;

/// <summary>
/// The side trainer's guard against a checkpoint store that is not the one the job's checkpoints went to
/// (<see cref="StoreContinuity"/>), on a real local-directory store: refused when the store holds nothing at or after the
/// step the job recorded, accepted when it does, even if that checkpoint's data is damaged (the store's own fallback to
/// an older checkpoint, with its warning, must stay possible).
/// </summary>
public sealed class StoreContinuityTests : IDisposable
{
    readonly TestDirectory _dir = new();

    CheckpointStore Store() => new(new LocalDirectoryBlobStore(_dir["blobs"]), "jobs/j1");

    static SideSpec Spec(long expected) =>
        new("j1", new JobSpec { ModelDirectory = "/m", DataFile = "/d" }, TotalSteps: 10, TapCount: 5, MicroBatchesPerEpoch: 4, ExpectedCheckpointStep: expected);

    static Task Commit(CheckpointStore store, long step) => store.CommitAsync(step, [CheckpointPart.FromBytes("w.bin", new byte[64])]);

    [Fact]
    public async Task AnEmptyStoreIsRefusedWhenTheJobCommittedACheckpoint()
    {
        var store = Store();
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => StoreContinuity.EnsureHoldsExpected(Spec(4), store, "h2"));
        Assert.Contains($"checkpoint store {store.Location} (seen from silo h2) holds no checkpoint of job 'j1', but the job committed checkpoint 4", e.Message);
        Assert.Contains("refusing to restart from step 0", e.Message);
        // A fresh job (nothing committed) starts from an empty store as before.
        await StoreContinuity.EnsureHoldsExpected(Spec(0), store, "h2");
    }

    [Fact]
    public async Task AStoreWithOnlyOlderCheckpointsIsRefused()
    {
        var store = Store();
        await Commit(store, 2);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => StoreContinuity.EnsureHoldsExpected(Spec(4), store, "h1"));
        Assert.Contains("holds checkpoints up to step 2 only", e.Message);
        Assert.Contains("refusing to restart from step 2", e.Message);
    }

    [Fact]
    public async Task AStoreWithTheExpectedOrANewerCheckpointIsAccepted()
    {
        var store = Store();
        await Commit(store, 2);
        await Commit(store, 4);
        await StoreContinuity.EnsureHoldsExpected(Spec(4), store, "h1");
        await Commit(store, 6);   // committed after the job's record was written
        await StoreContinuity.EnsureHoldsExpected(Spec(4), store, "h1");
    }

    [Fact]
    public async Task ADamagedExpectedCheckpointStillCountsSoTheStoreCanFallBack()
    {
        var store = Store();
        await Commit(store, 2);
        await Commit(store, 4);
        foreach (var file in Directory.EnumerateFiles(_dir["blobs"], "w.bin*", SearchOption.AllDirectories).Where(f => f.Contains("000000000004")))
            File.WriteAllBytes(file, new byte[3]);
        await StoreContinuity.EnsureHoldsExpected(Spec(4), store, "h1");
        var loaded = await store.LoadLatestValidAsync(_dir["restore"]);
        Assert.Equal(2, loaded!.Step);
        Assert.NotEmpty(loaded.Warnings);
    }

    [Fact]
    public async Task ADamagedCheckpointAlreadyQuarantinedByAnEarlierRestoreStillCounts()
    {
        // Seen in CI: the first recovery's restore quarantined the damaged checkpoint 4, that recovery then failed for
        // another reason, and the second recovery's guard saw only step 2 and failed the job as "store not shared".
        var store = Store();
        await Commit(store, 2);
        await Commit(store, 4);
        foreach (var file in Directory.EnumerateFiles(_dir["blobs"], "w.bin*", SearchOption.AllDirectories).Where(f => f.Contains("000000000004")))
            File.WriteAllBytes(file, new byte[3]);
        Assert.Equal(2, (await store.LoadLatestValidAsync(_dir["restore1"]))!.Step);
        Assert.Equal([2L], await store.ListStepsAsync());   // 4's manifest moved aside
        Assert.Equal([4L], await store.ListQuarantinedStepsAsync());
        await StoreContinuity.EnsureHoldsExpected(Spec(4), store, "h1");
        Assert.Equal(2, (await store.LoadLatestValidAsync(_dir["restore2"]))!.Step);
        // A quarantined step below the expected one is no evidence: still refused.
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => StoreContinuity.EnsureHoldsExpected(Spec(6), store, "h1"));
        Assert.Contains("holds checkpoints up to step 2 only", e.Message);
    }

    public void Dispose() => _dir.Dispose();
}
