using System.Security.Cryptography;
using System.Text;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Tests.Checkpoints;

/// <summary>
/// The <see cref="IBlobStore"/> contract, run against every implementation: round trips, listing, create-only and
/// If-Match conflicts (the loser changes nothing), conditional deletes, all-or-nothing puts, name checks.
/// </summary>
public abstract class BlobStoreContractTests
{
    protected abstract Task<IBlobStore> NewStoreAsync();

    protected static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    protected static async Task<string?> ReadText(IBlobStore store, string name) =>
        await store.GetBytesAsync(name) is { } got ? Encoding.UTF8.GetString(got.Bytes) : null;

    [Fact]
    public async Task PutGetListDeleteRoundTrip()
    {
        var store = await NewStoreAsync();
        var big = RandomNumberGenerator.GetBytes(3 << 20);    // several copy buffers
        var put = await store.PutBytesAsync("a/b/big.bin", big, BlobWriteCondition.Overwrite);
        await store.PutBytesAsync("a/c.txt", Bytes("c"), BlobWriteCondition.CreateOnly);
        await store.PutBytesAsync("z.txt", Bytes("z"), BlobWriteCondition.CreateOnly);
        Assert.Equal(big.Length, put.Length);

        var got = await store.GetBytesAsync("a/b/big.bin");
        Assert.NotNull(got);
        Assert.Equal(SHA256.HashData(big), SHA256.HashData(got.Value.Bytes));
        Assert.Equal(put.ETag, got.Value.Properties.ETag);
        Assert.Null(await store.GetBytesAsync("a/missing"));

        var listed = await store.ListAsync("a/");
        Assert.Equal(["a/b/big.bin", "a/c.txt"], listed.Select(i => i.Name));
        Assert.Equal([big.Length, 1L], listed.Select(i => i.Length));
        Assert.Equal(3, (await store.ListAsync("")).Count);

        Assert.True(await store.DeleteAsync("a/c.txt"));
        Assert.False(await store.DeleteAsync("a/c.txt"));
        Assert.Null(await store.GetBytesAsync("a/c.txt"));
    }

    [Fact]
    public async Task CreateOnlyRefusesAnExistingBlobAndKeepsIt()
    {
        var store = await NewStoreAsync();
        await store.PutBytesAsync("p", Bytes("first"), BlobWriteCondition.CreateOnly);
        var e = await Assert.ThrowsAsync<BlobConflictException>(() => store.PutBytesAsync("p", Bytes("second"), BlobWriteCondition.CreateOnly));
        Assert.Equal("p", e.BlobName);
        Assert.Equal("first", await ReadText(store, "p"));
    }

    [Fact]
    public async Task IfMatchAcceptsTheCurrentETagOnly()
    {
        var store = await NewStoreAsync();
        var v1 = await store.PutBytesAsync("p", Bytes("v1"), BlobWriteCondition.CreateOnly);
        var v2 = await store.PutBytesAsync("p", Bytes("v2"), BlobWriteCondition.IfMatch(v1.ETag));
        Assert.NotEqual(v1.ETag, v2.ETag);
        // A writer still holding v1's tag loses and changes nothing.
        await Assert.ThrowsAsync<BlobConflictException>(() => store.PutBytesAsync("p", Bytes("stale"), BlobWriteCondition.IfMatch(v1.ETag)));
        Assert.Equal("v2", await ReadText(store, "p"));
        // If-Match on a missing blob is a conflict too (it was deleted under us).
        await Assert.ThrowsAsync<BlobConflictException>(() => store.PutBytesAsync("q", Bytes("x"), BlobWriteCondition.IfMatch(v1.ETag)));
        Assert.Null(await store.GetBytesAsync("q"));
    }

    [Fact]
    public async Task ConditionalDeleteRefusesAnotherVersion()
    {
        var store = await NewStoreAsync();
        var v1 = await store.PutBytesAsync("p", Bytes("v1"), BlobWriteCondition.CreateOnly);
        var v2 = await store.PutBytesAsync("p", Bytes("v2"), BlobWriteCondition.Overwrite);
        await Assert.ThrowsAsync<BlobConflictException>(() => store.DeleteAsync("p", v1.ETag));
        Assert.Equal("v2", await ReadText(store, "p"));
        Assert.True(await store.DeleteAsync("p", v2.ETag));
    }

    [Fact]
    public async Task ConcurrentCreateOnlyWritersHaveExactlyOneWinner()
    {
        var store = await NewStoreAsync();
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            try
            {
                await store.PutBytesAsync("race", Bytes($"writer {i}"), BlobWriteCondition.CreateOnly);
                return i;
            }
            catch (BlobConflictException)
            {
                return -1;
            }
        }));
        int winner = Assert.Single(results, r => r >= 0);
        Assert.Equal($"writer {winner}", await ReadText(store, "race"));
    }

    [Fact]
    public async Task APutWhoseSourceFailsLeavesNoBlobAndKeepsTheOldOne()
    {
        var store = await NewStoreAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => store.PutAsync("new", new FailingStream(100_000), BlobWriteCondition.CreateOnly));
        Assert.Null(await store.GetBytesAsync("new"));
        await store.PutBytesAsync("old", Bytes("intact"), BlobWriteCondition.CreateOnly);
        await Assert.ThrowsAnyAsync<Exception>(() => store.PutAsync("old", new FailingStream(100_000), BlobWriteCondition.Overwrite));
        Assert.Equal("intact", await ReadText(store, "old"));
        Assert.Equal(["old"], (await store.ListAsync("")).Select(i => i.Name));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a//b")]
    [InlineData("../escape")]
    [InlineData(".hidden")]
    [InlineData("sp ace")]
    [InlineData("a/")]
    public async Task BadNamesAreRefused(string name)
    {
        var store = await NewStoreAsync();
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.PutBytesAsync(name, [1], BlobWriteCondition.Overwrite));
    }
}

public sealed class LocalBlobStoreTests : BlobStoreContractTests, IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("qst-blobs-").FullName;
    protected override Task<IBlobStore> NewStoreAsync() =>
        Task.FromResult<IBlobStore>(new LocalDirectoryBlobStore(Path.Combine(_root, Guid.NewGuid().ToString("N"))));

    [Fact]
    public async Task ETagIsTheContentSha256AndNoTempFileRemains()
    {
        var store = (LocalDirectoryBlobStore)await NewStoreAsync();
        var data = Bytes("hello checkpoint");
        var put = await store.PutBytesAsync("x/y", data, BlobWriteCondition.CreateOnly);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), put.ETag);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(store.Root, "x", "y")));
        await Assert.ThrowsAnyAsync<Exception>(() => store.PutAsync("x/z", new FailingStream(10), BlobWriteCondition.Overwrite));
        Assert.Empty(Directory.GetFiles(Path.Combine(store.Root, ".tmp")));
    }

    [Fact]
    public async Task TwoStoreObjectsOnOneDirectoryShareConditions()
    {
        // Two processes (here: two store objects, two lock handles) on one folder: the lock file serializes them.
        var a = (LocalDirectoryBlobStore)await NewStoreAsync();
        var b = new LocalDirectoryBlobStore(a.Root);
        var v1 = await a.PutBytesAsync("p", Bytes("a1"), BlobWriteCondition.CreateOnly);
        await b.PutBytesAsync("p", Bytes("b1"), BlobWriteCondition.IfMatch(v1.ETag));
        await Assert.ThrowsAsync<BlobConflictException>(() => a.PutBytesAsync("p", Bytes("a2"), BlobWriteCondition.IfMatch(v1.ETag)));
        Assert.Equal("b1", await ReadText(a, "p"));
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}

[Collection(AzuriteCollection.Name)]
public sealed class AzuriteBlobStoreTests(AzuriteFixture azurite) : BlobStoreContractTests
{
    protected override async Task<IBlobStore> NewStoreAsync() => await azurite.NewStoreAsync();
}
