using System.Security.Cryptography;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Client;

/// <summary>
/// Fetches a completed job's result — the exported side network (<c>side_model.safetensors</c> + <c>side_config.json</c>,
/// the files <c>qst train-local --out</c> writes) — through the cluster, in chunks of at most
/// <see cref="IJobResultGrain.MaxChunkBytes"/>, so it works from any machine that reaches a gateway.
/// </summary>
public static class QstClientResults
{
    /// <summary>
    /// Downloads the result of job <paramref name="jobId"/> into <paramref name="directory"/> (created if needed), checking
    /// each file's size and SHA-256 against the cluster's manifest. Each file is written beside its final name and moved in
    /// place once verified, the config last, so a folder with <c>side_config.json</c> always holds the matching weights.
    /// </summary>
    /// <param name="client">The connected client.</param>
    /// <param name="jobId">A completed job of the cluster.</param>
    /// <param name="directory">Where the export's files go.</param>
    /// <param name="cancel">Stops the download between chunks.</param>
    /// <param name="chunkBytes">Bytes per call (1 to <see cref="IJobResultGrain.MaxChunkBytes"/>).</param>
    /// <returns>What was downloaded (step, files, checksums).</returns>
    /// <exception cref="InvalidOperationException">The job has no result (not completed, failed or unknown), or the stored
    /// result does not verify; the message names the job and the store.</exception>
    /// <exception cref="InvalidDataException">A downloaded file differs from its manifest entry (names the file).</exception>
    public static async Task<JobResult> DownloadResultAsync(this QstClient client, string jobId, string directory, CancellationToken cancel = default,
        int chunkBytes = IJobResultGrain.MaxChunkBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(jobId);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (chunkBytes < 1 || chunkBytes > IJobResultGrain.MaxChunkBytes)
            throw new ArgumentOutOfRangeException(nameof(chunkBytes), $"chunkBytes is {chunkBytes}; use 1 to {IJobResultGrain.MaxChunkBytes}");
        var grain = client.Grains.GetGrain<IJobResultGrain>(jobId);
        var result = await Call(() => grain.Describe());
        Directory.CreateDirectory(directory);
        // The config last (side_config.json names the weights it belongs to).
        foreach (var file in result.Files.OrderBy(f => f.Name.EndsWith(".json", StringComparison.Ordinal)).ThenBy(f => f.Name, StringComparer.Ordinal))
            await DownloadFileAsync(grain, jobId, file, directory, chunkBytes, cancel);
        return result;
    }

    static async Task DownloadFileAsync(IJobResultGrain grain, string jobId, JobResultFile file, string directory, int chunkBytes, CancellationToken cancel)
    {
        if (file.Name.Contains('/') || file.Name.Contains('\\') || file.Name.StartsWith('.'))
            throw new InvalidDataException($"job '{jobId}': the result names a file '{file.Name}' outside its folder");
        string target = Path.Combine(directory, file.Name);
        string partial = Path.Combine(directory, $".{file.Name}.partial");
        try
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var output = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
            {
                long offset = 0;
                while (offset < file.Size)
                {
                    cancel.ThrowIfCancellationRequested();
                    int count = (int)Math.Min(chunkBytes, file.Size - offset);
                    var chunk = await Call(() => grain.ReadChunk(file.Name, offset, count));
                    if (chunk.Length == 0)
                        throw new InvalidDataException($"job '{jobId}': '{file.Name}' ended at byte {offset}, the manifest says {file.Size}");
                    sha.AppendData(chunk);
                    await output.WriteAsync(chunk, cancel);
                    offset += chunk.Length;
                }
            }
            string actual = Convert.ToHexStringLower(sha.GetHashAndReset());
            if (actual != file.Sha256)
                throw new InvalidDataException($"job '{jobId}': downloaded '{file.Name}' has SHA-256 {actual[..16]}…, the manifest says {file.Sha256[..Math.Min(16, file.Sha256.Length)]}…");
            File.Move(partial, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }

    /// <summary>A silo's error (no result, a corrupt store) arrives as <see cref="QstErrorException"/>; callers get its message.</summary>
    static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try { return await call(); }
        catch (QstErrorException e) { throw new InvalidOperationException(e.Message, e); }
    }
}
