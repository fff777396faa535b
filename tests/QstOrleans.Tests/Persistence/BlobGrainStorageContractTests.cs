using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Storage;
using QstOrleans.Grains.Persistence;
using QstOrleans.Storage.Blobs;
using QstOrleans.Tests.Checkpoints;

namespace QstOrleans.Tests.Persistence;

/// <summary>
/// <see cref="BlobGrainStorage"/>'s contract, run on the local directory store and on Azurite: round trip, state
/// that outlives the provider (and store) object that wrote it, stale ETags refused with Orleans'
/// <see cref="InconsistentStateException"/> without losing the winner's state (including the equal-content ABA case),
/// clear, and corrupt blobs reported by name. The provider is constructed directly (no silo).
/// </summary>
public abstract class BlobGrainStorageContractTests
{
    const string ServiceId = "svc-1", StateName = "job";
    static readonly GrainId Grain = GrainId.Create("trainingjob", "run 7/ä");

    /// <summary>A place for blobs, and a way to open another store object on it (a restarted process).</summary>
    protected abstract Task<Func<Task<IBlobStore>>> NewLocationAsync();

    internal sealed class JobState
    {
        public long Step { get; set; }
        public string Note { get; set; } = "";
        public List<int> Cursor { get; set; } = [];
    }

    /// <summary>A plain System.Text.Json serializer: the test decodes the blob with the same library, independently.</summary>
    internal sealed class JsonSerializer : IGrainStorageSerializer
    {
        public BinaryData Serialize<T>(T input) => BinaryData.FromBytes(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(input));
        public T Deserialize<T>(BinaryData input) => System.Text.Json.JsonSerializer.Deserialize<T>(input.ToMemory().Span)!;
    }

    sealed class Holder<T>(T state) : IGrainState<T>
    {
        public T State { get; set; } = state;
        public string? ETag { get; set; }
        public bool RecordExists { get; set; }
    }

    static BlobGrainStorage Provider(IBlobStore store) =>
        new("qst-state", ServiceId, store, new JsonSerializer(), NullLogger<BlobGrainStorage>.Instance);

    static Holder<JobState> Job(long step, string note = "") => new(new JobState { Step = step, Note = note, Cursor = [(int)step, 2, 3] });

    static async Task<Holder<JobState>> Read(BlobGrainStorage provider)
    {
        var state = new Holder<JobState>(new JobState { Step = -1 });
        await provider.ReadStateAsync(StateName, Grain, state);
        return state;
    }

    [Fact]
    public async Task MissingRecordReadsAsNewStateWithoutETag()
    {
        var provider = Provider(await (await NewLocationAsync())());
        var state = await Read(provider);
        Assert.False(state.RecordExists);
        Assert.Null(state.ETag);
        Assert.Equal(0, state.State.Step);       // a fresh JobState, not the -1 the caller passed in
    }

    [Fact]
    public async Task WriteThenReadRoundTripsAndTheBlobHoldsTheSerializedState()
    {
        var open = await NewLocationAsync();
        var store = await open();
        var provider = Provider(store);
        var written = Job(42, "ünïcode");
        await provider.WriteStateAsync(StateName, Grain, written);
        Assert.True(written.RecordExists);
        Assert.False(string.IsNullOrEmpty(written.ETag));

        var read = await Read(provider);
        Assert.True(read.RecordExists);
        Assert.Equal(written.ETag, read.ETag);
        Assert.Equal((42L, "ünïcode"), (read.State.Step, read.State.Note));
        Assert.Equal([42, 2, 3], read.State.Cursor);

        // Independently: the blob is where the naming scheme says, and after the 27-byte header (magic, write id,
        // length) holds exactly the JSON of the state.
        string name = "state/svc-1/job/trainingjob/run_207_2f_c3_a4";
        Assert.Equal(name, provider.BlobNameOf(StateName, Grain));
        var blob = (await store.GetBytesAsync(name))!.Value;
        Assert.Equal(written.ETag, blob.Properties.ETag);
        Assert.Equal("QSTGS1\n", Encoding.ASCII.GetString(blob.Bytes, 0, 7));
        using var json = JsonDocument.Parse(blob.Bytes.AsMemory(27));
        Assert.Equal(42, json.RootElement.GetProperty("Step").GetInt64());
        Assert.Equal(blob.Bytes.Length - 27, BitConverter.ToInt32(blob.Bytes, 23));
    }

    [Fact]
    public async Task StateSurvivesANewProviderAndStoreOnTheSameLocation()
    {
        var open = await NewLocationAsync();
        var first = Provider(await open());
        var state = Job(7);
        await first.WriteStateAsync(StateName, Grain, state);
        state.State.Step = 8;
        await first.WriteStateAsync(StateName, Grain, state);

        // "Process restart": nothing shared with the writer but the directory / container.
        var restarted = Provider(await open());
        var read = await Read(restarted);
        Assert.Equal(8, read.State.Step);
        Assert.Equal(state.ETag, read.ETag);
        // The restarted activation continues with the ETag it read.
        read.State.Step = 9;
        await restarted.WriteStateAsync(StateName, Grain, read);
        Assert.Equal(9, (await Read(first)).State.Step);
    }

    [Fact]
    public async Task StaleWritersAreRefusedAndTheWinnersStateIsKept()
    {
        var provider = Provider(await (await NewLocationAsync())());

        // Two activations create the record at once: the second create-only write loses.
        var a = Job(1, "a");
        var b = Job(1, "b");
        await provider.WriteStateAsync(StateName, Grain, a);
        var e = await Assert.ThrowsAsync<InconsistentStateException>(() => provider.WriteStateAsync(StateName, Grain, b));
        Assert.Contains("run 7/ä", e.Message);
        Assert.Equal(a.ETag, e.StoredEtag);
        Assert.Equal("a", (await Read(provider)).State.Note);

        // Both then read the same version; one writes; the other's ETag is stale.
        var c = await Read(provider);
        var d = await Read(provider);
        c.State.Step = 2;
        await provider.WriteStateAsync(StateName, Grain, c);
        d.State.Step = 3;
        var stale = await Assert.ThrowsAsync<InconsistentStateException>(() => provider.WriteStateAsync(StateName, Grain, d));
        Assert.Equal(c.ETag, stale.StoredEtag);
        Assert.Equal(2, (await Read(provider)).State.Step);
    }

    [Fact]
    public async Task EqualContentWrittenAgainStillGetsANewETag()
    {
        // ABA: v1, v2, then v1's content again. A writer that kept the first v1's ETag must still be refused,
        // which needs distinct ETags for equal content (the local store's ETag is a content hash).
        var provider = Provider(await (await NewLocationAsync())());
        var state = Job(1);
        await provider.WriteStateAsync(StateName, Grain, state);
        var old = new Holder<JobState>(Job(1).State) { ETag = state.ETag, RecordExists = true };
        state.State.Step = 2;
        await provider.WriteStateAsync(StateName, Grain, state);
        state.State.Step = 1;
        await provider.WriteStateAsync(StateName, Grain, state);
        Assert.NotEqual(old.ETag, state.ETag);
        old.State.Note = "stale";
        await Assert.ThrowsAsync<InconsistentStateException>(() => provider.WriteStateAsync(StateName, Grain, old));
        Assert.Equal("", (await Read(provider)).State.Note);
    }

    [Fact]
    public async Task ClearDeletesTheCurrentVersionOnlyAndResetsTheState()
    {
        var open = await NewLocationAsync();
        var store = await open();
        var provider = Provider(store);
        var current = Job(5);
        await provider.WriteStateAsync(StateName, Grain, current);
        var stale = await Read(provider);
        current.State.Step = 6;
        await provider.WriteStateAsync(StateName, Grain, current);

        // A clear with an old ETag is refused and the record stays.
        await Assert.ThrowsAsync<InconsistentStateException>(() => provider.ClearStateAsync(StateName, Grain, stale));
        Assert.Equal(6, (await Read(provider)).State.Step);
        // A clear from an activation that never saw the record is refused too.
        var blind = new Holder<JobState>(new JobState());
        await Assert.ThrowsAsync<InconsistentStateException>(() => provider.ClearStateAsync(StateName, Grain, blind));

        await provider.ClearStateAsync(StateName, Grain, current);
        Assert.False(current.RecordExists);
        Assert.Null(current.ETag);
        Assert.Equal(0, current.State.Step);
        Assert.Null(await store.GetBytesAsync(provider.BlobNameOf(StateName, Grain)));
        Assert.False((await Read(provider)).RecordExists);

        // After a clear the record can be created again (create-only, no ETag).
        await provider.WriteStateAsync(StateName, Grain, Job(1));
        Assert.Equal(1, (await Read(provider)).State.Step);
    }

    [Fact]
    public async Task ACorruptBlobIsReportedByName()
    {
        var open = await NewLocationAsync();
        var store = await open();
        var provider = Provider(store);
        var state = Job(3);
        await provider.WriteStateAsync(StateName, Grain, state);
        string name = provider.BlobNameOf(StateName, Grain);
        var bytes = (await store.GetBytesAsync(name))!.Value.Bytes;

        await store.PutBytesAsync(name, bytes[..^5], BlobWriteCondition.Overwrite);        // truncated
        var truncated = await Assert.ThrowsAsync<InvalidDataException>(() => Read(provider));
        Assert.Contains(name, truncated.Message);
        Assert.Contains("truncated", truncated.Message);

        await store.PutBytesAsync(name, Encoding.UTF8.GetBytes("{\"Step\":3}"), BlobWriteCondition.Overwrite);   // no header
        var foreign = await Assert.ThrowsAsync<InvalidDataException>(() => Read(provider));
        Assert.Contains(name, foreign.Message);
        Assert.Contains("state 'job'", foreign.Message);
    }

    [Fact]
    public async Task DistinctStatesAndServicesUseDistinctBlobs()
    {
        var open = await NewLocationAsync();
        var store = await open();
        var provider = Provider(store);
        var other = new BlobGrainStorage("qst-state", "svc-2", store, new JsonSerializer(), NullLogger<BlobGrainStorage>.Instance);
        await provider.WriteStateAsync(StateName, Grain, Job(1));
        await provider.WriteStateAsync("progress", Grain, Job(2));
        await provider.WriteStateAsync(StateName, GrainId.Create("trainingjob", "run 8"), Job(3));
        await other.WriteStateAsync(StateName, Grain, Job(4));
        Assert.Equal(1, (await Read(provider)).State.Step);
        var svc2 = new Holder<JobState>(new JobState());
        await other.ReadStateAsync(StateName, Grain, svc2);
        Assert.Equal(4, svc2.State.Step);
        Assert.Equal(4, (await store.ListAsync("state/")).Count);
    }
}

public sealed class LocalBlobGrainStorageTests : BlobGrainStorageContractTests, IDisposable
{
    readonly TestDirectory _root = new();

    protected override Task<Func<Task<IBlobStore>>> NewLocationAsync()
    {
        string dir = _root.File(Guid.NewGuid().ToString("N"));
        return Task.FromResult<Func<Task<IBlobStore>>>(() => Task.FromResult<IBlobStore>(new LocalDirectoryBlobStore(dir)));
    }

    public void Dispose() => _root.Dispose();
}

[Collection(AzuriteCollection.Name)]
public sealed class AzuriteBlobGrainStorageTests(AzuriteFixture azurite) : BlobGrainStorageContractTests
{
    protected override Task<Func<Task<IBlobStore>>> NewLocationAsync()
    {
        string container = $"g{Guid.NewGuid():N}";
        return Task.FromResult<Func<Task<IBlobStore>>>(async () => await AzureBlobStore.ConnectAsync(azurite.ConnectionString, container));
    }
}
