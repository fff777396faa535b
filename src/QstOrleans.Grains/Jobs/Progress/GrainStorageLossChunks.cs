using Orleans.Storage;

namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>Loss chunks of one job as states <c>losses-0</c>, <c>losses-1</c>, … (<see cref="GrainStorageChunks{TChunk}"/>).</summary>
internal sealed class GrainStorageLossChunks(IGrainStorage storage, GrainId job) : ILossChunkStore
{
    readonly GrainStorageChunks<LossChunk> _chunks = new(storage, job, "losses");

    public async Task<float[]?> ReadAsync(int chunk) => (await _chunks.ReadAsync(chunk))?.Losses;

    public Task WriteAsync(int chunk, float[] losses) => _chunks.WriteAsync(chunk, new LossChunk { Losses = losses });
}

/// <summary>One stored chunk of a job's per-step losses.</summary>
[GenerateSerializer]
public sealed class LossChunk
{
    [Id(0)] public float[] Losses { get; set; } = [];
}
