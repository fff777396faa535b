namespace QstOrleans.Contracts.Wire;

/// <summary>Lifecycle of a training job.</summary>
public enum JobState
{
    Pending,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

/// <summary>A snapshot of a job's progress, as clients see it.</summary>
[GenerateSerializer, Immutable]
public sealed record JobProgress
{
    [Id(0)] public required string JobId { get; init; }
    [Id(1)] public JobState State { get; init; }
    [Id(2)] public int Step { get; init; }
    [Id(3)] public int TotalSteps { get; init; }
    [Id(4)] public int Epoch { get; init; }
    /// <summary>Loss of the latest optimizer step (mean over its micro-batches).</summary>
    [Id(5)] public float Loss { get; init; } = float.NaN;
    [Id(6)] public double TokensPerSecond { get; init; }
    /// <summary>Fraction of wall time each stage spent computing since the job started, by stage key.</summary>
    [Id(7)] public IReadOnlyDictionary<string, double> StageUtilisation { get; init; } = new Dictionary<string, double>();
    /// <summary>Why the job failed, or other news for the user.</summary>
    [Id(8)] public string? Message { get; init; }
    /// <summary>Per-step losses so far (index = step − 1).</summary>
    [Id(9)] public IReadOnlyList<float> Losses { get; init; } = [];
    /// <summary>Where each stage runs: stage key → device slot.</summary>
    [Id(10)] public IReadOnlyDictionary<string, string> Placement { get; init; } = new Dictionary<string, string>();

    public bool IsFinished => State is JobState.Completed or JobState.Failed or JobState.Cancelled;
}
