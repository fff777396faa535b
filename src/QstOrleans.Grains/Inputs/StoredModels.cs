using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using QstOrleans.Grains.Hosting;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Grains.Inputs;

/// <summary>
/// Model directories in the cluster's own store, named <c>store:models/{sha256}</c> (<see cref="StoreUris"/>): the upload grain
/// commits each file as <c>models/{sha256}/{name}</c> and then the manifest (<see cref="ModelManifest"/>, whose SHA-256 is the
/// model's id), which is stored only once every file it lists is there. A job naming such a URI is planned, staged and side-trained
/// on this silo's copy (<see cref="LocalizeAsync"/>): one folder per model and silo, fetched once, every file checked against the
/// manifest, then reused by every stage and side trainer of the silo. A silo-wide singleton.
/// </summary>
public sealed class StoredModels(CheckpointStores stores, InputGuard guard, ILogger<StoredModels> log)
{
    const string What = "model (--model)";
    /// <summary>One fetch per model at a time in this process; waiters reuse its folder.</summary>
    readonly ConcurrentDictionary<string, SemaphoreSlim> _fetching = new();

    /// <summary>Where this silo keeps its copies: <c>{temp}/qst-models/{sha256}/</c>, fetched into <c>{temp}/qst-upload-model-*</c>
    /// first (swept with the other upload folders when a silo dies mid-fetch) and renamed.</summary>
    public static string CacheRoot => Path.Combine(Path.GetTempPath(), "qst-models");

    /// <summary>The stored file's length, or null when the store has no such blob.</summary>
    public async Task<long?> LengthAsync(string model, string name)
    {
        string blob = StoreUris.ModelBlobOf(model, name);
        var items = await (await stores.Blobs()).ListAsync(blob);
        return items.FirstOrDefault(i => i.Name == blob)?.Length;
    }

    /// <summary>
    /// Stores a verified file of model <paramref name="model"/> create-only. The manifest (<see cref="ModelManifest.FileName"/>) is
    /// parsed and stored only when every file it lists is in the store with its size; it completes the model.
    /// </summary>
    /// <exception cref="InvalidDataException">A malformed manifest, a listed file missing or of another size, or a blob of the same
    /// name with another length (a damaged store); each names the model and the file.</exception>
    public async Task<string> CommitAsync(string file, string model, string name)
    {
        var blobs = await stores.Blobs();
        string uri = StoreUris.ForModel(model);
        if (name == ModelManifest.FileName)
        {
            var entries = ModelManifest.Parse(await File.ReadAllTextAsync(file, Encoding.UTF8), $"{What} '{uri}'");
            foreach (var entry in entries)
                if (await LengthAsync(model, entry.Name) is var stored && stored != entry.Size)
                    throw new InvalidDataException($"{What} '{uri}': its file '{entry.Name}' is " + (stored is null ? "not in the store" : $"{stored} bytes in the store")
                                                   + $", the manifest says {entry.Size}; upload the model's files before its manifest");
        }
        long length = new FileInfo(file).Length;
        string blob = StoreUris.ModelBlobOf(model, name);
        try
        {
            await using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
            await blobs.PutAsync(blob, source, BlobWriteCondition.CreateOnly);
            log.LogInformation("model file {Blob} stored in {Location} ({Bytes} bytes)", blob, blobs.Location, length);
        }
        catch (BlobConflictException)
        {
            if (await LengthAsync(model, name) is var stored && stored != length)
                throw new InvalidDataException($"{blobs.Location}: model blob '{blob}' exists with {stored} bytes, the upload has {length}; remove the blob and upload again");
        }
        return uri;
    }

    /// <summary>
    /// <paramref name="model"/> itself when it is a path; else this silo's verified copy of the stored model, fetched on first use.
    /// A copy already here is reused after checking that its files still have the manifest's sizes (each was hashed when fetched).
    /// </summary>
    /// <exception cref="ArgumentException">A malformed URI, or a model the store does not hold (naming the URI and the store).</exception>
    /// <exception cref="InvalidDataException">A stored file whose SHA-256 differs from the manifest's (a damaged store).</exception>
    public async Task<string> LocalizeAsync(string model)
    {
        if (!StoreUris.IsStoreUri(model)) return model;
        string sha256 = StoreUris.ParseModel(model), local = Path.Combine(CacheRoot, sha256);
        var gate = _fetching.GetOrAdd(sha256, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync();
        try
        {
            if (await Task.Run(() => IsComplete(local, sha256))) return local;
            await FetchAsync(model, sha256, local);
            return local;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>A cached copy is complete when its manifest hashes to the model's id and every listed file has its size.</summary>
    static bool IsComplete(string local, string sha256)
    {
        string manifest = Path.Combine(local, ModelManifest.FileName);
        if (!File.Exists(manifest)) return false;
        string text = File.ReadAllText(manifest, Encoding.UTF8);
        if (ModelManifest.Hash(text) != sha256) return false;
        return ModelManifest.Parse(text, local).All(e => new FileInfo(Path.Combine(local, e.Name)) is { Exists: true } f && f.Length == e.Size);
    }

    async Task FetchAsync(string uri, string sha256, string local)
    {
        var blobs = await stores.Blobs();
        var manifestBytes = new MemoryStream();
        if (await blobs.GetAsync(StoreUris.ModelBlobOf(sha256, ModelManifest.FileName), manifestBytes) is null)
            throw new ArgumentException($"{What} '{uri}' is not in the cluster's store ({blobs.Location}): upload it first (`qst upload --model DIR`)");
        string text = Encoding.UTF8.GetString(manifestBytes.ToArray());
        if (ModelManifest.Hash(text) != sha256)
            throw new InvalidDataException($"{What} '{uri}': the stored manifest in {blobs.Location} does not hash to the model's id; the store is damaged: upload the model again");
        var entries = ModelManifest.Parse(text, $"{What} '{uri}'");
        foreach (var entry in entries.Where(e => e.Name.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && e.Size > guard.Roots.MaxModelJsonBytes))
            throw new InputRefusedException(What, uri, $"its entry '{entry.Name}' is larger than {guard.Roots.MaxModelJsonBytes} bytes (Qst:Roots:MaxModelJsonBytes)");
        string partial = Path.Combine(Path.GetTempPath(), $"qst-upload-model-{Guid.NewGuid():N}");
        Directory.CreateDirectory(partial);
        try
        {
            foreach (var entry in entries)
            {
                string path = Path.Combine(partial, entry.Name);
                await using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
                    if (await blobs.GetAsync(StoreUris.ModelBlobOf(sha256, entry.Name), output) is null)
                        throw new ArgumentException($"{What} '{uri}': its file '{entry.Name}' is missing from the cluster's store ({blobs.Location}); upload the model again");
                string actual = await Task.Run(() =>
                {
                    using var stream = File.OpenRead(path);
                    return StoreUris.Hex(SHA256.HashData(stream));
                });
                if (actual != entry.Sha256)
                    throw new InvalidDataException($"{What} '{uri}': the stored '{entry.Name}' in {blobs.Location} has SHA-256 {actual[..16]}…, the manifest says " +
                                                   $"{entry.Sha256[..16]}…; the store is damaged: remove models/{sha256}/ and upload the model again");
            }
            await File.WriteAllTextAsync(Path.Combine(partial, ModelManifest.FileName), text, new UTF8Encoding(false));   // last: marks the copy complete
            Directory.CreateDirectory(CacheRoot);
            // Another silo sharing this temp directory may have put its copy in place meanwhile (and be loading from it): keep that one.
            if (IsComplete(local, sha256)) return;
            if (Directory.Exists(local)) Directory.Delete(local, recursive: true);   // an incomplete copy (a file removed by hand)
            try { Directory.Move(partial, local); }
            catch (IOException) when (IsComplete(local, sha256)) { /* another silo process won the rename */ }
            log.LogInformation("model {Uri} copied to {Local} ({Files} files, {Bytes} bytes)", uri, local, entries.Count, entries.Sum(e => e.Size));
        }
        finally
        {
            if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        }
    }
}
