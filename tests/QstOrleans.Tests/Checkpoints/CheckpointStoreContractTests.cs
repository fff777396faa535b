using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using QstOrleans.Storage.Blobs;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Tests.Checkpoints;

/// <summary>
/// <see cref="CheckpointStore"/> against every blob store: commit/load round trip with checksums computed here,
/// atomicity (a write failing midway, or a writer dying before cleanup, leaves nothing visible), monotonic ids,
/// duplicate writers, the pointer race, keep-N rotation, checksum and size verification, and the fallback past a
/// truncated, corrupted, half-deleted or unparseable latest checkpoint with a logged warning.
/// </summary>
public abstract class CheckpointStoreContractTests(ITestOutputHelper output) : IDisposable
{
    protected ITestOutputHelper Output { get; } = output;
    readonly string _scratch = Directory.CreateTempSubdirectory("qst-ckpt-").FullName;
    protected readonly ListLogger Log = new();

    protected abstract Task<IBlobStore> NewBlobStoreAsync();

    protected string Scratch(string name) => Path.Combine(_scratch, name);

    /// <summary>Three parts like a training checkpoint's, content derived from the step (so tests can tell steps apart).</summary>
    static Dictionary<string, byte[]> Content(long step)
    {
        var rng = new Random((int)step + 1);
        var weights = new byte[150_000 + (int)step];
        var optimizer = new byte[300_000];
        rng.NextBytes(weights);
        rng.NextBytes(optimizer);
        return new()
        {
            ["side_model.safetensors"] = weights,
            ["optimizer.safetensors"] = optimizer,
            ["state.json"] = Encoding.UTF8.GetBytes($"{{\"step\": {step}}}"),
        };
    }

    static List<CheckpointPart> Parts(long step) => Content(step).Select(kv => CheckpointPart.FromBytes(kv.Key, kv.Value)).ToList();

    CheckpointStore Store(IBlobStore blobs, int keep = 3) => new(blobs, "jobs/job-1/checkpoints", new CheckpointStoreOptions(keep), Log);

    static void AssertHolds(LoadedCheckpoint loaded, long step)
    {
        Assert.Equal(step, loaded.Step);
        foreach (var (name, bytes) in Content(step))
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(loaded.PathOf(name))), $"{name} of step {step} differs");
    }

    async Task<string> DataBlob(IBlobStore blobs, CheckpointStore store, long step, string name) =>
        (await store.ReadManifestAsync(step))!.Find(name)!.Blob;

    [Fact]
    public async Task CommitThenLoadRoundTripsWithIndependentChecksums()
    {
        var blobs = await NewBlobStoreAsync();
        var store = Store(blobs);
        Assert.Null(await store.LoadLatestValidAsync(Scratch("none")));

        var manifest = await store.CommitAsync(7, Parts(7));
        foreach (var (name, bytes) in Content(7))
        {
            var entry = manifest.Find(name)!;
            Assert.Equal(bytes.LongLength, entry.Size);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), entry.Sha256);
        }
        // The pointer is plain JSON naming the step and the manifest's own SHA-256.
        var pointerBytes = (await blobs.GetBytesAsync("jobs/job-1/checkpoints/latest"))!.Value.Bytes;
        var manifestBytes = (await blobs.GetBytesAsync("jobs/job-1/checkpoints/000000000007/manifest.json"))!.Value.Bytes;
        using var pointer = JsonDocument.Parse(pointerBytes);
        Assert.Equal(7, pointer.RootElement.GetProperty("step").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(manifestBytes)), pointer.RootElement.GetProperty("manifest_sha256").GetString());

        var loaded = await store.LoadLatestValidAsync(Scratch("load"));
        Assert.NotNull(loaded);
        AssertHolds(loaded, 7);
        Assert.Empty(loaded.Warnings);
        Assert.Equal([7L], await store.ListStepsAsync());
    }

    [Fact]
    public async Task AWriteThatThrowsMidwayLeavesNoVisibleCheckpoint()
    {
        var blobs = await NewBlobStoreAsync();
        var store = Store(blobs);
        await store.CommitAsync(1, Parts(1));
        var before = (await blobs.ListAsync("")).Select(b => b.Name).ToList();

        // The second part's source dies after 64 KiB.
        var parts = Parts(2);
        parts[1] = new CheckpointPart(parts[1].Name, () => new FailingStream(64 * 1024));
        await Assert.ThrowsAsync<IOException>(() => store.CommitAsync(2, parts));

        Assert.Equal([1L], await store.ListStepsAsync());
        Assert.Equal(before, (await blobs.ListAsync("")).Select(b => b.Name));   // the attempt's first blob was removed too
        AssertHolds((await store.LoadLatestValidAsync(Scratch("after")))!, 1);
        await store.CommitAsync(2, Parts(2));                                      // the step can be written afterwards
        AssertHolds((await store.LoadLatestValidAsync(Scratch("retry")))!, 2);
    }

    [Fact]
    public async Task AWriterDyingBeforeTheManifestLeavesOrphansThatRotationRemoves()
    {
        var inner = await NewBlobStoreAsync();
        var faulty = new FaultyBlobStore(inner);
        var store = Store(faulty);
        await store.CommitAsync(1, Parts(1));
        // "Crash" just before the manifest: data blobs are written, and the dying writer cannot clean up.
        faulty.BeforePut = name => name.EndsWith("/manifest.json") ? throw new IOException("injected crash") : Task.CompletedTask;
        faulty.FailDeletes = true;
        await Assert.ThrowsAsync<IOException>(() => store.CommitAsync(2, Parts(2)));
        faulty.BeforePut = null;
        faulty.FailDeletes = false;

        Assert.Equal([1L], await store.ListStepsAsync());
        Assert.Contains(await inner.ListAsync("jobs/job-1/checkpoints/000000000002/"), b => b.Name.EndsWith("/optimizer.safetensors"));
        AssertHolds((await Store(inner).LoadLatestValidAsync(Scratch("a")))!, 1);

        // A restarted writer re-commits step 2 (new attempt folder) and later steps; rotation drops the dead attempt.
        await store.CommitAsync(2, Parts(2));
        await store.CommitAsync(3, Parts(3));
        var step2 = await inner.ListAsync("jobs/job-1/checkpoints/000000000002/");
        var manifest2 = (await store.ReadManifestAsync(2))!;
        Assert.Equal(manifest2.Blobs.Select(b => b.Blob).Append("jobs/job-1/checkpoints/000000000002/manifest.json").Order(StringComparer.Ordinal),
            step2.Select(b => b.Name));
    }

    [Fact]
    public async Task CommittedStepsAreNeverOverwrittenAndIdsAreMonotonic()
    {
        var blobs = await NewBlobStoreAsync();
        var store = Store(blobs);
        await store.CommitAsync(5, Parts(5));
        var again = await Assert.ThrowsAsync<CheckpointConflictException>(() => store.CommitAsync(5, Parts(6)));
        Assert.Contains("already committed", again.Message);
        var behind = await Assert.ThrowsAsync<CheckpointConflictException>(() => store.CommitAsync(4, Parts(4)));
        Assert.Contains("not after", behind.Message);
        AssertHolds((await store.LoadLatestValidAsync(Scratch("x")))!, 5);
    }

    [Fact]
    public async Task TwoWritersOfOneStepHaveOneWinnerAndCleanData()
    {
        // A duplicate activation: two trainers commit the same step at once.
        var blobs = await NewBlobStoreAsync();
        var a = Store(blobs);
        var b = Store(blobs);
        var results = await Task.WhenAll(
            Try(() => a.CommitAsync(3, Parts(3))),
            Try(() => b.CommitAsync(3, Parts(3))));
        Assert.Single(results, r => r is null);
        Assert.Single(results, r => r is CheckpointConflictException);
        AssertHolds((await a.LoadLatestValidAsync(Scratch("x")))!, 3);
        Assert.Equal(5, (await blobs.ListAsync("")).Count);    // the winner's 3 data blobs + manifest + latest; the loser cleaned up

        static async Task<Exception?> Try(Func<Task> commit)
        {
            try { await commit(); return null; }
            catch (Exception e) { return e; }
        }
    }

    [Fact]
    public async Task APointerMovedByAnotherWriterIsAConflictNotAnOverwrite()
    {
        var inner = await NewBlobStoreAsync();
        var faulty = new FaultyBlobStore(inner);
        var slow = Store(faulty);
        var fast = Store(inner);
        await fast.CommitAsync(1, Parts(1));
        // While the slow writer is between its manifest and its pointer, the fast one commits a later step.
        faulty.BeforePut = async name =>
        {
            if (name.EndsWith("/latest")) { faulty.BeforePut = null; await fast.CommitAsync(9, Parts(9)); }
        };
        var e = await Assert.ThrowsAsync<CheckpointConflictException>(() => slow.CommitAsync(4, Parts(4)));
        Assert.Contains("moved 'latest' to step 9", e.Message);
        var pointer = await fast.ReadPointerAsync();
        Assert.Equal(9, pointer!.Step);
        AssertHolds((await fast.LoadLatestValidAsync(Scratch("x")))!, 9);
    }

    [Fact]
    public async Task RotationKeepsTheLastNAndDeletesOnlyAfterTheNewPointer()
    {
        var inner = await NewBlobStoreAsync();
        var faulty = new FaultyBlobStore(inner);
        var store = Store(faulty, keep: 2);
        foreach (long step in new long[] { 10, 20, 30 }) await store.CommitAsync(step, Parts(step));
        Assert.Equal([20L, 30L], await store.ListStepsAsync());

        // If the pointer write fails, nothing old may have been deleted yet.
        faulty.BeforePut = name => name.EndsWith("/latest") ? throw new IOException("injected: pointer write failed") : Task.CompletedTask;
        await Assert.ThrowsAsync<IOException>(() => store.CommitAsync(40, Parts(40)));
        faulty.BeforePut = null;
        Assert.Equal([20L, 30L, 40L], await store.ListStepsAsync());
        AssertHolds((await store.LoadLatestValidAsync(Scratch("a")))!, 40);  // the manifest is the commit record

        await store.CommitAsync(50, Parts(50));
        Assert.Equal([40L, 50L], await store.ListStepsAsync());
        var names = (await inner.ListAsync("")).Select(b => b.Name).ToList();
        Assert.DoesNotContain(names, n => n.Contains("/000000000020/") || n.Contains("/000000000030/"));
        Assert.Equal(2 * 4 + 1, names.Count);   // 2 × (3 data + manifest) + latest
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.LoadAsync(30, Scratch("gone")));
        AssertHolds((await store.LoadLatestValidAsync(Scratch("b")))!, 50);
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("flip")]
    [InlineData("delete")]
    public async Task LoadVerifiesEveryBlob(string damage)
    {
        var blobs = await NewBlobStoreAsync();
        var store = Store(blobs);
        await store.CommitAsync(1, Parts(1));
        string blob = await DataBlob(blobs, store, 1, "optimizer.safetensors");
        var bytes = Content(1)["optimizer.safetensors"];
        await Damage(blobs, blob, bytes, damage);
        var e = await Assert.ThrowsAsync<CheckpointCorruptException>(() => store.LoadAsync(1, Scratch("x")));
        Output.WriteLine(e.Message);
        Assert.Contains("optimizer.safetensors", e.Message);
        Assert.Contains(damage switch { "truncate" => "bytes", "flip" => "SHA-256", _ => "missing" }, e.Message);
        Assert.False(File.Exists(Path.Combine(Scratch("x"), "optimizer.safetensors")));   // never left looking complete
    }

    static async Task Damage(IBlobStore blobs, string blob, byte[] original, string how)
    {
        switch (how)
        {
            case "truncate":
                await blobs.PutBytesAsync(blob, original[..(original.Length / 2)], BlobWriteCondition.Overwrite);
                break;
            case "flip":
                var flipped = (byte[])original.Clone();
                flipped[flipped.Length / 3] ^= 0x10;
                await blobs.PutBytesAsync(blob, flipped, BlobWriteCondition.Overwrite);
                break;
            case "delete":
                Assert.True(await blobs.DeleteAsync(blob));
                break;
            case "garbage-manifest":
                await blobs.PutBytesAsync(blob, Encoding.UTF8.GetBytes("{ not json"), BlobWriteCondition.Overwrite);
                break;
        }
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("flip")]
    [InlineData("delete")]
    [InlineData("garbage-manifest")]
    public async Task ACorruptLatestFallsBackToThePreviousWithAWarning(string damage)
    {
        var blobs = await NewBlobStoreAsync();
        var store = Store(blobs);
        foreach (long step in new long[] { 1, 2, 3 }) await store.CommitAsync(step, Parts(step));
        string blob = damage == "garbage-manifest"
            ? "jobs/job-1/checkpoints/000000000003/manifest.json"
            : await DataBlob(blobs, store, 3, "side_model.safetensors");
        await Damage(blobs, blob, Content(3)["side_model.safetensors"], damage);

        var loaded = await store.LoadLatestValidAsync(Scratch("load"));
        Assert.NotNull(loaded);
        AssertHolds(loaded, 2);
        string warning = Assert.Single(Log.Warnings, w => w.Contains("checkpoint 3 is unusable"));
        Assert.Contains("falling back to checkpoint 2", warning);
        Assert.Equal(loaded.Warnings, Log.Warnings.Where(w => !w.Contains("moved to")));
        Output.WriteLine(warning);

        // The corrupt one was moved aside (its manifest kept under quarantine/), so step 3 can be committed again.
        Assert.Equal([1L, 2L], await store.ListStepsAsync());
        Assert.Single(await blobs.ListAsync("jobs/job-1/checkpoints/quarantine/"));
        await store.CommitAsync(3, Parts(3));
        AssertHolds((await store.LoadLatestValidAsync(Scratch("again")))!, 3);
    }

    [Fact]
    public async Task NothingVerifiesIsAnErrorNotAFreshStart()
    {
        var blobs = await NewBlobStoreAsync();
        var store = new CheckpointStore(blobs, "j", new CheckpointStoreOptions(3, QuarantineCorrupt: false), Log);
        await store.CommitAsync(1, Parts(1));
        await store.CommitAsync(2, Parts(2));
        foreach (long step in new long[] { 1, 2 })
            await Damage(blobs, await DataBlob(blobs, store, step, "state.json"), Content(step)["state.json"], "flip");
        var e = await Assert.ThrowsAsync<CheckpointCorruptException>(() => store.LoadLatestValidAsync(Scratch("x")));
        Assert.Contains("none of the 2 stored checkpoints verifies", e.Message);
        Assert.Equal(2, Log.Warnings.Count());
        Assert.Equal([1L, 2L], await store.ListStepsAsync());   // quarantine off: left as found
    }

    public void Dispose()
    {
        try { Directory.Delete(_scratch, recursive: true); } catch (IOException) { }
    }
}

public sealed class LocalCheckpointStoreTests(ITestOutputHelper output) : CheckpointStoreContractTests(output)
{
    protected override Task<IBlobStore> NewBlobStoreAsync() =>
        Task.FromResult<IBlobStore>(new LocalDirectoryBlobStore(Scratch("blobs-" + Guid.NewGuid().ToString("N"))));
}

[Collection(AzuriteCollection.Name)]
public sealed class AzuriteCheckpointStoreTests(AzuriteFixture azurite, ITestOutputHelper output) : CheckpointStoreContractTests(output)
{
    protected override async Task<IBlobStore> NewBlobStoreAsync() => await azurite.NewStoreAsync();

    [Fact]
    public void AzuriteStartsWithinTheBudget()
    {
        Output.WriteLine($"azurite-blob on 127.0.0.1:{azurite.Port} ready in {azurite.StartupSeconds:F2} s");
        Assert.InRange(azurite.StartupSeconds, 0.0, 15.0);   // measured ≈2 s; the fixture itself gives up at 30 s
    }
}
