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
        ArgumentException.ThrowIfNullOrEmpty(localFile);
        if (chunkBytes < 1 || chunkBytes > IDatasetUploadGrain.MaxChunkBytes)
            throw new ArgumentOutOfRangeException(nameof(chunkBytes), $"chunkBytes is {chunkBytes}; use 1 to {IDatasetUploadGrain.MaxChunkBytes}");
        var file = new FileInfo(localFile);
        if (!file.Exists) throw new FileNotFoundException($"data file '{localFile}' does not exist", localFile);
        string storedName = StoreUris.SafeName(name ?? file.Name);
        if (name is not null && storedName != name)
            throw new ArgumentException($"dataset name '{name}' must be one segment of [A-Za-z0-9._-] not starting with '.' (e.g. '{storedName}')", nameof(name));
        string sha256 = await FileUpload.HashAsync(file.FullName, cancel);
        await using var input = FileUpload.Open(file.FullName);
        var sent = await FileUpload.SendAsync(client, input, new DatasetUploadRequest(storedName, file.Length, sha256), chunkBytes, progress, cancel);
        return new DatasetUpload(sent.Uri, file.Length, sha256, sent.Start.AlreadyStored, sent.Start.Location, sent.SentBytes, sent.Start.ReceivedBytes);
    }

    /// <summary>
    /// Whether the cluster can read <paramref name="localFile"/> at the same absolute path with the same content (size and
    /// SHA-256), inside its data roots: then a job may name the path itself. Asks one silo (any); a cluster whose silos do not
    /// share one disk should be sent an upload instead.
    /// </summary>
    public static async Task<bool> ClusterSeesAsync(this QstClient client, string localFile, CancellationToken cancel = default)
    {
        var file = new FileInfo(localFile);
        if (!file.Exists) throw new FileNotFoundException($"data file '{localFile}' does not exist", localFile);
        string sha256 = await FileUpload.HashAsync(file.FullName, cancel);
        return await FileUpload.Call(() => client.Grains.GetGrain<IDatasetUploadGrain>($"probe-{Guid.NewGuid():N}").Sees(file.FullName, file.Length, sha256));
    }
}
