using QstOrleans.Contracts.Wire;

namespace QstOrleans.Contracts.Grains;

/// <summary>
/// Serves a job's durable result (key = job id) through the cluster, in chunks, so a client on another machine gets it
/// without seeing the silos' disks. The result lives in the checkpoint store, not in memory: it survives restarts.
/// </summary>
/// <remarks>Both methods fail with an error naming the job and the store when the job has no result (not completed, or
/// an unknown id), and when the stored result does not verify (a file missing, truncated or with another SHA-256).</remarks>
public interface IJobResultGrain : IGrainWithStringKey
{
    /// <summary>The most bytes one <see cref="ReadChunk"/> returns.</summary>
    public const int MaxChunkBytes = 4 << 20;

    /// <summary>The result's files with their sizes and checksums.</summary>
    [ResponseTimeout("00:05:00")]
    Task<JobResult> Describe();

    /// <summary>Up to <paramref name="count"/> (≤ <see cref="MaxChunkBytes"/>) bytes of file <paramref name="name"/> from
    /// <paramref name="offset"/>; fewer only at the end of the file.</summary>
    [ResponseTimeout("00:05:00")]
    Task<byte[]> ReadChunk(string name, long offset, int count);
}
