using Orleans.Storage;

namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>
/// Numbered chunks of one job's history in the job grain's own storage provider, as separate states <c>{prefix}-0</c>,
/// <c>{prefix}-1</c>, … of the job's grain id (beside the <c>job</c> record), so a write touches one small chunk, never the whole
/// history. Keeps each chunk's ETag; a chunk is read once before its first write here, so a stored one is never overwritten
/// blindly. The losses (<see cref="GrainStorageLossChunks"/>) and the step metrics (<see cref="GrainStorageMetricsChunks"/>) use it.
/// </summary>
internal class GrainStorageChunks<TChunk>(IGrainStorage storage, GrainId job, string prefix) where TChunk : class, new()
{
    readonly Dictionary<int, GrainState<TChunk>> _states = [];

    /// <summary>The stored chunk, or null when it was never written.</summary>
    public async Task<TChunk?> ReadAsync(int chunk)
    {
        var state = new GrainState<TChunk>(new TChunk());
        await storage.ReadStateAsync(Name(chunk), job, state);
        _states[chunk] = state;
        return state.RecordExists ? state.State : null;
    }

    /// <summary>Replaces chunk <paramref name="chunk"/>.</summary>
    public async Task WriteAsync(int chunk, TChunk value)
    {
        if (!_states.ContainsKey(chunk)) await ReadAsync(chunk);
        var state = _states[chunk];
        state.State = value;
        await storage.WriteStateAsync(Name(chunk), job, state);
    }

    string Name(int chunk) => $"{prefix}-{chunk}";
}
