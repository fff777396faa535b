using System.Security.Cryptography;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Client;

/// <summary>
/// Sends one file through an <see cref="IDatasetUploadGrain"/> named by its content (<see cref="IDatasetUploadGrain.KeyOf"/>), so
/// the same upload after an interruption (a cancelled call, a killed client) finds what the cluster already holds and sends only
/// the rest: <see cref="DatasetUploadStart.ReceivedBytes"/> says where to continue, and the whole file's SHA-256 is checked at the
/// commit either way. A cancelled upload is kept for that; a refused or failed one is aborted (nothing becomes visible).
/// </summary>
internal static class FileUpload
{
    /// <summary>What one file's upload did.</summary>
    /// <param name="Start">The cluster's answer to the request.</param>
    /// <param name="Uri">The store URI after the commit (the dataset's or the model's).</param>
    /// <param name="SentBytes">Bytes sent by this call (0 when already stored; the rest only when resumed).</param>
    public sealed record Result(DatasetUploadStart Start, string Uri, long SentBytes);

    /// <param name="client">The connected client.</param>
    /// <param name="input">The file's bytes: seekable, positioned anywhere (read from where the cluster stopped).</param>
    /// <param name="request">Name, size and SHA-256 of those bytes (and the model they belong to).</param>
    /// <param name="chunkBytes">Bytes per call.</param>
    /// <param name="progress">Bytes of this file the cluster holds, after each chunk.</param>
    /// <param name="cancel">Stops between chunks; what was sent stays on its silo for a later resume.</param>
    public static async Task<Result> SendAsync(QstClient client, Stream input, DatasetUploadRequest request, int chunkBytes,
        IProgress<long>? progress, CancellationToken cancel)
    {
        var grain = client.Grains.GetGrain<IDatasetUploadGrain>(IDatasetUploadGrain.KeyOf(request));
        var start = await Call(() => grain.Begin(request));
        if (start.AlreadyStored) return new Result(start, start.Uri, 0);
        try
        {
            input.Seek(start.ReceivedBytes, SeekOrigin.Begin);
            var buffer = new byte[(int)Math.Min(chunkBytes, Math.Max(1, request.Size))];
            long offset = start.ReceivedBytes;
            for (int index = start.NextIndex; ; index++)
            {
                cancel.ThrowIfCancellationRequested();
                int read = await input.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancel);
                if (read == 0) break;
                var chunk = buffer.AsSpan(0, read).ToArray();
                (long at, int i) = (offset, index);
                await Call(() => grain.Append(i, at, chunk, StoreUris.Hex(SHA256.HashData(chunk))));
                offset += read;
                progress?.Report(offset);
            }
            string uri = await Call(() => grain.Commit());
            return new Result(start, uri, offset - start.ReceivedBytes);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            try { await grain.Abort(); } catch (Exception) { /* the upload is dropped either way: its silo keeps nothing visible */ }
            throw;
        }
    }

    /// <summary>SHA-256 of a file, lower-case hex.</summary>
    public static async Task<string> HashAsync(string path, CancellationToken cancel)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return StoreUris.Hex(await SHA256.HashDataAsync(stream, cancel));
    }

    /// <summary>Opens a file for <see cref="SendAsync"/>.</summary>
    public static FileStream Open(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);

    /// <summary>A silo's refusal may arrive as <see cref="QstErrorException"/>; callers get its message as bad data.</summary>
    public static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try { return await call(); }
        catch (QstErrorException e) { throw new InvalidDataException(e.Message, e); }
    }

    static Task Call(Func<Task> call) => Call(async () => { await call(); return true; });
}
