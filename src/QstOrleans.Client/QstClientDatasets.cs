using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Client;

/// <summary>What <see cref="QstClientDatasets.UploadDatasetAsync"/> did.</summary>
/// <param name="Uri">The dataset's store URI (<see cref="StoreUris"/>): use it as a job's data file.</param>
/// <param name="Size">Bytes of the file.</param>
/// <param name="Sha256">SHA-256 of the file, lower-case hex.</param>
/// <param name="AlreadyStored">The cluster had the same content under that name: nothing was sent.</param>
/// <param name="Location">Where the cluster's store keeps it (for messages).</param>
/// <param name="SentBytes">Bytes this call sent (less than <paramref name="Size"/> when it continued an interrupted upload).</param>
/// <param name="ResumedAtByte">Where this call continued an interrupted upload of the same file (0: from the start).</param>
public sealed record DatasetUpload(string Uri, long Size, string Sha256, bool AlreadyStored, string Location, long SentBytes = 0, long ResumedAtByte = 0);

/// <summary>A local data file, hashed once (<see cref="QstClientDatasets.HashDatasetAsync"/>) so asking the cluster whether it
/// sees the file and then uploading it reads the file's bytes for the hash only once.</summary>
/// <param name="Path">Absolute path.</param>
/// <param name="Size">Bytes when hashed.</param>
/// <param name="Sha256">SHA-256 of its content, lower-case hex (checked again by the cluster when an upload commits).</param>
public sealed record LocalDataset(string Path, long Size, string Sha256);

/// <summary>
/// Datasets from where the client is: uploads a local file into the cluster's store, in chunks of at most
/// <see cref="IDatasetUploadGrain.MaxChunkBytes"/> each with its own SHA-256 and the whole file's SHA-256 checked at the end,
/// so a job can name it by store URI even when no silo sees the client's disk. The other direction of
/// <see cref="QstClientResults"/>.
/// </summary>
public static class QstClientDatasets
{
    /// <summary>
    /// Uploads <paramref name="localFile"/> into the cluster's store as <c>datasets/{sha256}/{name}</c> and returns its URI.
    /// Idempotent: the same content under the same name is stored once (a second call sends nothing). Nothing becomes visible
    /// until the whole file has arrived and verified; on a refusal or error the partial upload is dropped, but a cancelled (or
    /// killed) upload stays on its silo and the same call later sends only the rest (<see cref="DatasetUpload.ResumedAtByte"/>).
    /// </summary>
    /// <param name="client">The connected client.</param>
    /// <param name="localFile">A data file on this machine.</param>
    /// <param name="name">The name in the store (default: the file's name, made a safe blob segment).</param>
    /// <param name="cancel">Stops between chunks (what was sent stays for a later call to continue).</param>
    /// <param name="chunkBytes">Bytes per call (1 to <see cref="IDatasetUploadGrain.MaxChunkBytes"/>).</param>
    /// <param name="progress">Bytes the cluster holds, after each chunk.</param>
    /// <exception cref="FileNotFoundException">No such local file.</exception>
    /// <exception cref="InvalidDataException">The cluster refused the upload (over its data cap, a chunk's checksum, the file
    /// changed while being sent); the message names the chunk or the rule.</exception>
    public static async Task<DatasetUpload> UploadDatasetAsync(this QstClient client, string localFile, string? name = null,
        CancellationToken cancel = default, int chunkBytes = IDatasetUploadGrain.MaxChunkBytes, IProgress<long>? progress = null)
    {
        CheckChunkBytes(chunkBytes);
        StoredName(name, localFile ?? "");   // a bad name is refused before the file is read
        return await client.UploadDatasetAsync(await HashDatasetAsync(localFile!, cancel), name, cancel, chunkBytes, progress);
    }

    /// <summary>Uploads a file hashed by <see cref="HashDatasetAsync"/> (see the overload taking a path).</summary>
    /// <exception cref="InvalidDataException">Also when the file changed since it was hashed (the cluster checks the SHA-256).</exception>
    public static async Task<DatasetUpload> UploadDatasetAsync(this QstClient client, LocalDataset dataset, string? name = null,
        CancellationToken cancel = default, int chunkBytes = IDatasetUploadGrain.MaxChunkBytes, IProgress<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        CheckChunkBytes(chunkBytes);
        string storedName = StoredName(name, dataset.Path);
        await using var input = FileUpload.Open(dataset.Path);
        var sent = await FileUpload.SendAsync(client, input, new DatasetUploadRequest(storedName, dataset.Size, dataset.Sha256), chunkBytes, progress, cancel);
        return new DatasetUpload(sent.Uri, dataset.Size, dataset.Sha256, sent.Start.AlreadyStored, sent.Start.Location, sent.SentBytes, sent.Start.ReceivedBytes);
    }

    /// <summary>Hashes a local data file once, for <see cref="ClusterSeesAsync(QstClient, LocalDataset)"/> and then
    /// <see cref="UploadDatasetAsync(QstClient, LocalDataset, string?, CancellationToken, int, IProgress{long}?)"/>.</summary>
    /// <exception cref="FileNotFoundException">No such local file.</exception>
    public static async Task<LocalDataset> HashDatasetAsync(string localFile, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(localFile);
        var file = new FileInfo(localFile);
        if (!file.Exists) throw new FileNotFoundException($"data file '{localFile}' does not exist", localFile);
        return new LocalDataset(file.FullName, file.Length, await FileUpload.HashAsync(file.FullName, cancel));
    }

    /// <summary>The name in the store: <paramref name="name"/> when it is a safe blob segment, else the file's name made one.</summary>
    static string StoredName(string? name, string path)
    {
        string storedName = StoreUris.SafeName(name ?? Path.GetFileName(path));
        if (name is not null && storedName != name)
            throw new ArgumentException($"dataset name '{name}' must be one segment of [A-Za-z0-9._-] not starting with '.' (e.g. '{storedName}')", nameof(name));
        return storedName;
    }

    static void CheckChunkBytes(int chunkBytes)
    {
        if (chunkBytes < 1 || chunkBytes > IDatasetUploadGrain.MaxChunkBytes)
            throw new ArgumentOutOfRangeException(nameof(chunkBytes), $"chunkBytes is {chunkBytes}; use 1 to {IDatasetUploadGrain.MaxChunkBytes}");
    }

    /// <summary>
    /// Whether the cluster can read <paramref name="localFile"/> at the same absolute path with the same content (size and
    /// SHA-256), inside its data roots: then a job may name the path itself. Asks one silo (any); a cluster whose silos do not
    /// share one disk should be sent an upload instead.
    /// </summary>
    public static async Task<bool> ClusterSeesAsync(this QstClient client, string localFile, CancellationToken cancel = default) =>
        await client.ClusterSeesAsync(await HashDatasetAsync(localFile, cancel));

    /// <summary>Whether the cluster sees a file hashed by <see cref="HashDatasetAsync"/> (see the overload taking a path).</summary>
    public static async Task<bool> ClusterSeesAsync(this QstClient client, LocalDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        return await FileUpload.Call(() => client.Grains.GetGrain<IDatasetUploadGrain>($"probe-{Guid.NewGuid():N}").Sees(dataset.Path, dataset.Size, dataset.Sha256));
    }
}
