using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using QstOrleans.Grains.Hosting;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Grains.Inputs;

/// <summary>
/// Datasets in the cluster's own store (the checkpoint store's blobs, <c>Qst:Checkpoints</c>), named by
/// <see cref="StoreUris"/>: <c>store:datasets/{sha256}/{name}</c>. The upload grain commits a verified temp file here
/// (create-only: the same content twice is stored once), and the silo that plans a job naming such a URI copies the blob
/// into a local cache file keyed by the hash (<see cref="LocalizeAsync"/>), which the usual loaders and token cache read.
/// A silo-wide singleton.
/// </summary>
public sealed class StoredDatasets(CheckpointStores stores, InputGuard guard, StoredModels models, ILogger<StoredDatasets> log)
{
    /// <summary>Where this silo keeps its copies: <c>{temp}/qst-datasets/{sha256}/{name}</c>. Never swept while in use: the
    /// temp sweep takes only <c>qst-side-*</c>, <c>qst-restore-*</c> and <c>qst-upload-*</c>; a copy removed by hand is fetched again.</summary>
    public static string CacheRoot => Path.Combine(Path.GetTempPath(), "qst-datasets");

    /// <summary>The caps in force (<c>Qst:Roots</c>).</summary>
    public InputRoots Roots => guard.Roots;

    /// <summary>The input guard (the upload grain's <c>Sees</c> asks it about client paths).</summary>
    public InputGuard Guard => guard;

    /// <summary>Where the store keeps its blobs, for messages.</summary>
    public async Task<string> LocationAsync() => (await stores.Blobs()).Location;

    /// <summary>The stored dataset's length, or null when the store has no blob of that hash and name.</summary>
    /// <remarks>(Models: <see cref="StoredModels.LengthAsync"/>.)</remarks>
    public async Task<long?> LengthAsync(string sha256, string name)
    {
        string blob = StoreUris.BlobOf(sha256, name);
        var items = await (await stores.Blobs()).ListAsync(blob);
        return items.FirstOrDefault(i => i.Name == blob)?.Length;
    }

    /// <summary>
    /// Stores <paramref name="file"/> (already verified against <paramref name="sha256"/> by the caller) create-only and returns its
    /// URI. When the same name exists already (another upload of the same content won), it is kept if its length matches.
    /// </summary>
    /// <exception cref="InvalidDataException">A blob of that name exists with another length (a damaged store).</exception>
    public async Task<string> CommitAsync(string file, string sha256, string name)
    {
        var blobs = await stores.Blobs();
        string blob = StoreUris.BlobOf(sha256, name);
        long length = new FileInfo(file).Length;
        try
        {
            await using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
            await blobs.PutAsync(blob, source, BlobWriteCondition.CreateOnly);
            log.LogInformation("dataset {Blob} stored in {Location} ({Bytes} bytes)", blob, blobs.Location, length);
        }
        catch (BlobConflictException)
        {
            long? stored = await LengthAsync(sha256, name);
            if (stored != length)
                throw new InvalidDataException($"{blobs.Location}: dataset blob '{blob}' exists with {stored} bytes, the upload has {length}; remove the blob and upload again");
        }
        return StoreUris.ForDataset(sha256, name);
    }

    /// <summary>The stored models (<c>store:models/…</c>).</summary>
    public StoredModels Models => models;

    /// <summary>
    /// <paramref name="spec"/> itself when its data file and model are paths; else the same spec naming this silo's copies: a stored
    /// dataset is fetched on first use (SHA-256 checked, written beside its final name and renamed) and checked against the data
    /// caps like a client's file (<see cref="InputGuard.CheckFetchedDataFile"/>); a stored model see <see cref="StoredModels.LocalizeAsync"/>.
    /// Blocking I/O runs on the thread pool.
    /// </summary>
    /// <exception cref="ArgumentException">A malformed URI, or a dataset or model the store does not hold (naming the URI and the store).</exception>
    public async Task<JobSpec> LocalizeAsync(JobSpec spec)
    {
        spec = spec with { ModelDirectory = await models.LocalizeAsync(spec.ModelDirectory) };
        if (!StoreUris.IsStoreUri(spec.DataFile)) return spec;
        string uri = spec.DataFile;
        var (sha256, name) = StoreUris.ParseDataset(uri);
        string folder = Path.Combine(CacheRoot, sha256), local = Path.Combine(folder, name);
        if (!File.Exists(local)) await FetchAsync(uri, sha256, name, folder, local);
        await Task.Run(() => guard.CheckFetchedDataFile(local, uri));
        return spec with { DataFile = local };
    }

    async Task FetchAsync(string uri, string sha256, string name, string folder, string local)
    {
        var blobs = await stores.Blobs();
        long? length = await LengthAsync(sha256, name);
        if (length is null)
            throw new ArgumentException($"data file (--data) '{uri}' is not in the cluster's store ({blobs.Location}): upload it first (`qst train --data FILE --upload always`)");
        if (length > guard.Roots.MaxDataFileBytes)
            throw new InputRefusedException("data file (--data)", uri, $"is {length} bytes, more than the silo's cap of {guard.Roots.MaxDataFileBytes} (Qst:Roots:MaxDataFileBytes)");
        Directory.CreateDirectory(folder);
        string partial = Path.Combine(folder, $".{name}.{Guid.NewGuid():N}.partial");
        try
        {
            await using (var output = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
                if (await blobs.GetAsync(StoreUris.BlobOf(sha256, name), output) is null)
                    throw new ArgumentException($"data file (--data) '{uri}' was removed from the cluster's store ({blobs.Location}) while being read");
            string actual = await Task.Run(() =>
            {
                using var stream = File.OpenRead(partial);
                return StoreUris.Hex(SHA256.HashData(stream));
            });
            if (actual != sha256)
                throw new InvalidDataException($"data file (--data) '{uri}': the stored copy in {blobs.Location} has SHA-256 {actual[..16]}…, its name says {sha256[..16]}…; " +
                                               "the store is damaged: remove the blob and upload the file again");
            File.Move(partial, local, overwrite: true);   // two jobs fetching the same dataset write the same bytes
            log.LogInformation("dataset {Uri} copied to {Local}", uri, local);
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }
}
