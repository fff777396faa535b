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

/// <summary>Metric chunks of one job as states <c>metrics-0</c>, <c>metrics-1</c>, … beside the <c>losses-*</c> chunks
/// (<see cref="GrainStorageChunks{TChunk}"/>).</summary>
internal sealed class GrainStorageMetricsChunks(IGrainStorage storage, GrainId job)
    : GrainStorageChunks<StepMetricsChunk>(storage, job, "metrics"), IStepMetricsStore;

/// <summary>One stored chunk of a job's per-step metrics (index i = step chunk·size + i + 1; NaN / −1 = unknown).</summary>
[GenerateSerializer]
public sealed class StepMetricsChunk
{
    [Id(0)] public double[] GradNorms { get; set; } = [];
    [Id(1)] public double[] LearningRates { get; set; } = [];
    [Id(2)] public int[] Epochs { get; set; } = [];
    [Id(3)] public List<JobEvaluation> Evaluations { get; set; } = [];
}
