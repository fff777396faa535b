using Orleans.Storage;

namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>
/// Loss chunks of one job in the job grain's own storage provider, as separate states <c>losses-0</c>, <c>losses-1</c>, …
/// of the job's grain id (beside the <c>job</c> record), so a write touches one small chunk, never the whole history.
/// Keeps each chunk's ETag; a chunk is read once before its first write here, so a stored one is never overwritten blindly.
/// </summary>
internal sealed class GrainStorageLossChunks(IGrainStorage storage, GrainId job) : ILossChunkStore
{
    readonly Dictionary<int, GrainState<LossChunk>> _states = [];

    public async Task<float[]?> ReadAsync(int chunk)
    {
        var state = new GrainState<LossChunk>(new LossChunk());
        await storage.ReadStateAsync(Name(chunk), job, state);
        _states[chunk] = state;
        return state.RecordExists ? state.State?.Losses : null;
    }

    public async Task WriteAsync(int chunk, float[] losses)
    {
        if (!_states.ContainsKey(chunk)) await ReadAsync(chunk);
        var state = _states[chunk];
        state.State = new LossChunk { Losses = losses };
        await storage.WriteStateAsync(Name(chunk), job, state);
    }

    static string Name(int chunk) => $"losses-{chunk}";
}

/// <summary>One stored chunk of a job's per-step losses.</summary>
[GenerateSerializer]
public sealed class LossChunk
{
    [Id(0)] public float[] Losses { get; set; } = [];
}
