using Orleans.Storage;

namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>Where a <see cref="StepMetricsHistory"/> keeps its chunks.</summary>
internal interface IStepMetricsStore
{
    /// <summary>The stored chunk, or null when it was never written.</summary>
    Task<StepMetricsChunk?> ReadAsync(int chunk);

    /// <summary>Replaces chunk <paramref name="chunk"/>.</summary>
    Task WriteAsync(int chunk, StepMetricsChunk metrics);
}

/// <summary>
/// Metric chunks of one job in the job grain's own storage provider, as states <c>metrics-0</c>, <c>metrics-1</c>, … of the job's
/// grain id (beside the <c>job</c> record and the <c>losses-*</c> chunks). Keeps each chunk's ETag, reading a chunk once before
/// its first write here, as <see cref="GrainStorageLossChunks"/> does.
/// </summary>
internal sealed class GrainStorageMetricsChunks(IGrainStorage storage, GrainId job) : IStepMetricsStore
{
    readonly Dictionary<int, GrainState<StepMetricsChunk>> _states = [];

    public async Task<StepMetricsChunk?> ReadAsync(int chunk)
    {
        var state = new GrainState<StepMetricsChunk>(new StepMetricsChunk());
        await storage.ReadStateAsync(Name(chunk), job, state);
        _states[chunk] = state;
        return state.RecordExists ? state.State : null;
    }

    public async Task WriteAsync(int chunk, StepMetricsChunk metrics)
    {
        if (!_states.ContainsKey(chunk)) await ReadAsync(chunk);
        var state = _states[chunk];
        state.State = metrics;
        await storage.WriteStateAsync(Name(chunk), job, state);
    }

    static string Name(int chunk) => $"metrics-{chunk}";
}

/// <summary>One stored chunk of a job's per-step metrics (index i = step chunk·size + i + 1; NaN / −1 = unknown).</summary>
[GenerateSerializer]
public sealed class StepMetricsChunk
{
    [Id(0)] public double[] GradNorms { get; set; } = [];
    [Id(1)] public double[] LearningRates { get; set; } = [];
    [Id(2)] public int[] Epochs { get; set; } = [];
    [Id(3)] public List<JobEvaluation> Evaluations { get; set; } = [];
}
