using System.Security.Cryptography;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Client;

/// <summary>What <see cref="QstClientDatasets.UploadDatasetAsync"/> did.</summary>
/// <param name="Uri">The dataset's store URI (<see cref="StoreUris"/>): use it as a job's data file.</param>
/// <param name="Size">Bytes of the file.</param>
/// <param name="Sha256">SHA-256 of the file, lower-case hex.</param>
/// <param name="AlreadyStored">The cluster had the same content under that name: nothing was sent.</param>
/// <param name="Location">Where the cluster's store keeps it (for messages).</param>
public sealed record DatasetUpload(string Uri, long Size, string Sha256, bool AlreadyStored, string Location);

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
    /// until the whole file has arrived and verified; on any error the partial upload is dropped.
    /// </summary>
    /// <param name="client">The connected client.</param>
    /// <param name="localFile">A data file on this machine.</param>
    /// <param name="name">The name in the store (default: the file's name, made a safe blob segment).</param>
    /// <param name="cancel">Stops between chunks (the upload is then dropped).</param>
    /// <param name="chunkBytes">Bytes per call (1 to <see cref="IDatasetUploadGrain.MaxChunkBytes"/>).</param>
    /// <exception cref="FileNotFoundException">No such local file.</exception>
    /// <exception cref="InvalidDataException">The cluster refused the upload (over its data cap, a chunk's checksum, the file
    /// changed while being sent); the message names the chunk or the rule.</exception>
    public static async Task<DatasetUpload> UploadDatasetAsync(this QstClient client, string localFile, string? name = null,
        CancellationToken cancel = default, int chunkBytes = IDatasetUploadGrain.MaxChunkBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(localFile);
        if (chunkBytes < 1 || chunkBytes > IDatasetUploadGrain.MaxChunkBytes)
            throw new ArgumentOutOfRangeException(nameof(chunkBytes), $"chunkBytes is {chunkBytes}; use 1 to {IDatasetUploadGrain.MaxChunkBytes}");
        var file = new FileInfo(localFile);
        if (!file.Exists) throw new FileNotFoundException($"data file '{localFile}' does not exist", localFile);
        string storedName = StoreUris.SafeName(name ?? file.Name);
        if (name is not null && storedName != name)
            throw new ArgumentException($"dataset name '{name}' must be one segment of [A-Za-z0-9._-] not starting with '.' (e.g. '{storedName}')", nameof(name));
        string sha256 = await HashAsync(file.FullName, cancel);
        var grain = client.Grains.GetGrain<IDatasetUploadGrain>(Guid.NewGuid().ToString("N"));
        var start = await Call(() => grain.Begin(new DatasetUploadRequest(storedName, file.Length, sha256)));
        if (start.AlreadyStored) return new DatasetUpload(start.Uri, file.Length, sha256, true, start.Location);
        try
        {
            await using var input = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
            var buffer = new byte[(int)Math.Min(chunkBytes, Math.Max(1, file.Length))];
            long offset = 0;
            for (int index = 0; ; index++)
            {
                cancel.ThrowIfCancellationRequested();
                int read = await input.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancel);
                if (read == 0) break;
                var chunk = buffer.AsSpan(0, read).ToArray();
                long at = offset;
                int i = index;
                await Call(() => grain.Append(i, at, chunk, StoreUris.Hex(SHA256.HashData(chunk))));
                offset += read;
            }
            string uri = await Call(() => grain.Commit());
            return new DatasetUpload(uri, file.Length, sha256, false, start.Location);
        }
        catch
        {
            try { await grain.Abort(); } catch (Exception) { /* the upload is dropped either way: its silo keeps nothing visible */ }
            throw;
        }
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
        string sha256 = await HashAsync(file.FullName, cancel);
        return await Call(() => client.Grains.GetGrain<IDatasetUploadGrain>($"probe-{Guid.NewGuid():N}").Sees(file.FullName, file.Length, sha256));
    }

    static async Task<string> HashAsync(string path, CancellationToken cancel)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return StoreUris.Hex(await SHA256.HashDataAsync(stream, cancel));
    }

    /// <summary>A silo's refusal may arrive as <see cref="QstErrorException"/>; callers get its message as bad data.</summary>
    static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try { return await call(); }
        catch (QstErrorException e) { throw new InvalidDataException(e.Message, e); }
    }

    static Task Call(Func<Task> call) => Call(async () => { await call(); return true; });
}
