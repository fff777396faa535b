using System.Text;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Client;

/// <summary>What <see cref="QstClientModels.UploadModelAsync"/> did.</summary>
/// <param name="Uri">The model's store URI (<c>store:models/{sha256}</c>): use it as a job's model directory.</param>
/// <param name="Files">Files of the model (the manifest not counted).</param>
/// <param name="Size">Their bytes.</param>
/// <param name="AlreadyStored">The cluster held the whole model already: nothing was sent.</param>
/// <param name="SentBytes">Bytes this call sent (files the cluster held, or had partly received, are not sent again).</param>
/// <param name="Location">Where the cluster's store keeps it (for messages).</param>
public sealed record ModelUpload(string Uri, int Files, long Size, bool AlreadyStored, long SentBytes, string Location);

/// <summary>A local model directory, hashed once (<see cref="QstClientModels.HashModelAsync"/>): asking the cluster whether it
/// sees the model and then uploading it reads every file for its SHA-256 only once (at 70B that is ≈ 35 GB of NF4 shards).</summary>
/// <param name="Root">Absolute directory.</param>
/// <param name="Entries">Its files (top level, not hidden, ordinal order) with sizes and SHA-256.</param>
/// <param name="Manifest">The manifest text (<see cref="ModelManifest.Write"/>); its SHA-256 names the model.</param>
public sealed record LocalModel(string Root, IReadOnlyList<ModelManifest.Entry> Entries, string Manifest);

/// <summary>
/// Models from where the client is: uploads a model directory (config.json, tokenizer files, *.safetensors shards and their
/// index: every regular file at its top level) into the cluster's store, file by file through the same chunked, checksummed and
/// resumable upload as datasets (<see cref="QstClientDatasets"/>), then its manifest (<see cref="ModelManifest"/>), whose SHA-256
/// names the model. A job naming the URI is loaded by every stage and side trainer from its silo's verified copy.
/// </summary>
public static class QstClientModels
{
    /// <summary>
    /// Uploads the model in <paramref name="directory"/> and returns its URI. Idempotent and resumable: files the cluster holds are
    /// not sent, a file it holds part of (an interrupted upload) is continued; the model becomes usable only once every file is
    /// stored and verified.
    /// </summary>
    /// <param name="client">The connected client.</param>
    /// <param name="directory">A model directory on this machine.</param>
    /// <param name="cancel">Stops between chunks (what was sent stays for a later call to continue).</param>
    /// <param name="chunkBytes">Bytes per call (1 to <see cref="IDatasetUploadGrain.MaxChunkBytes"/>).</param>
    /// <param name="progress">Bytes of the model the cluster holds, after each chunk.</param>
    /// <exception cref="ArgumentException">No such directory, no config.json in it, or a file name that is not one blob-name segment.</exception>
    /// <exception cref="InvalidDataException">The cluster refused a file (a chunk's checksum, a JSON file over its cap, a changed file).</exception>
    public static async Task<ModelUpload> UploadModelAsync(this QstClient client, string directory, CancellationToken cancel = default,
        int chunkBytes = IDatasetUploadGrain.MaxChunkBytes, IProgress<long>? progress = null)
    {
        CheckChunkBytes(chunkBytes);
        return await client.UploadModelAsync(await HashModelAsync(directory, cancel), cancel, chunkBytes, progress);
    }

    /// <summary>Uploads a model hashed by <see cref="HashModelAsync"/> (see the overload taking a directory).</summary>
    /// <exception cref="InvalidDataException">Also when a file changed since it was hashed (the cluster checks each SHA-256).</exception>
    public static async Task<ModelUpload> UploadModelAsync(this QstClient client, LocalModel local, CancellationToken cancel = default,
        int chunkBytes = IDatasetUploadGrain.MaxChunkBytes, IProgress<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(local);
        CheckChunkBytes(chunkBytes);
        var (root, entries, manifest) = local;
        string model = ModelManifest.Hash(manifest);
        long held = 0, sent = 0;
        var manifestBytes = Encoding.UTF8.GetBytes(manifest);
        var manifestRequest = new DatasetUploadRequest(ModelManifest.FileName, manifestBytes.Length, model, model);
        foreach (var entry in entries)
        {
            await using var input = FileUpload.Open(Path.Combine(root, entry.Name));
            long before = held;
            var file = await FileUpload.SendAsync(client, input, new DatasetUploadRequest(entry.Name, entry.Size, entry.Sha256, model), chunkBytes,
                progress is null ? null : new Progress(progress, before), cancel);
            (held, sent) = (held + entry.Size, sent + file.SentBytes);
            progress?.Report(held);
        }
        var last = await FileUpload.SendAsync(client, new MemoryStream(manifestBytes), manifestRequest, chunkBytes, null, cancel);
        return new ModelUpload(last.Uri, entries.Count, held, last.Start.AlreadyStored && sent == 0, sent, last.Start.Location);
    }

    /// <summary>
    /// Whether the cluster can read <paramref name="directory"/> at the same absolute path, inside its model roots, with exactly
    /// these files (names, sizes, SHA-256): then a job may name the directory itself. Asks one silo (any).
    /// </summary>
    public static async Task<bool> ClusterSeesModelAsync(this QstClient client, string directory, CancellationToken cancel = default) =>
        await client.ClusterSeesModelAsync(await HashModelAsync(directory, cancel));

    /// <summary>Whether the cluster sees a model hashed by <see cref="HashModelAsync"/> (see the overload taking a directory).</summary>
    public static async Task<bool> ClusterSeesModelAsync(this QstClient client, LocalModel local)
    {
        ArgumentNullException.ThrowIfNull(local);
        return await FileUpload.Call(() => client.Grains.GetGrain<IDatasetUploadGrain>($"probe-{Guid.NewGuid():N}").SeesModel(local.Root, local.Manifest));
    }

    /// <summary>The model's files (top level, not hidden) with sizes and SHA-256, and the manifest text: hashed once, for
    /// <see cref="ClusterSeesModelAsync(QstClient, LocalModel)"/> and then <see cref="UploadModelAsync(QstClient, LocalModel, CancellationToken, int, IProgress{long}?)"/>.</summary>
    /// <exception cref="ArgumentException">No such directory, no config.json in it, or a file name that is not one blob-name segment.</exception>
    public static async Task<LocalModel> HashModelAsync(string directory, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string root = Path.GetFullPath(directory);
        if (!Directory.Exists(root)) throw new ArgumentException($"model directory (--model) '{directory}' does not exist");
        if (!File.Exists(Path.Combine(root, "config.json"))) throw new ArgumentException($"model directory (--model) '{directory}' has no config.json");
        var entries = new List<ModelManifest.Entry>();
        foreach (var file in new DirectoryInfo(root).EnumerateFiles().Where(f => !f.Name.StartsWith('.')).OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            if (StoreUris.SafeName(file.Name) != file.Name || file.Name == ModelManifest.FileName)
                throw new ArgumentException($"model directory (--model) '{directory}': file name '{file.Name}' cannot be uploaded: use [A-Za-z0-9._-] only " +
                                            $"(and not '{ModelManifest.FileName}')");
            entries.Add(new ModelManifest.Entry(file.Name, file.Length, await FileUpload.HashAsync(file.FullName, cancel)));
        }
        return new LocalModel(root, entries, ModelManifest.Write(entries));
    }

    static void CheckChunkBytes(int chunkBytes)
    {
        if (chunkBytes < 1 || chunkBytes > IDatasetUploadGrain.MaxChunkBytes)
            throw new ArgumentOutOfRangeException(nameof(chunkBytes), $"chunkBytes is {chunkBytes}; use 1 to {IDatasetUploadGrain.MaxChunkBytes}");
    }

    /// <summary>A file's progress as the model's: bytes of the files before it plus the file's own.</summary>
    sealed class Progress(IProgress<long> model, long before) : IProgress<long>
    {
        public void Report(long value) => model.Report(before + value);
    }
}
