namespace QstOrleans.Contracts.Wire;

/// <summary>Lifecycle of a training job.</summary>
public enum JobState
{
    /// <summary>Not started (a job grain reads so only while its start is being decided).</summary>
    Pending,
    /// <summary>Training.</summary>
    Running,
    /// <summary>Paused by the user; resumable.</summary>
    Paused,
    /// <summary>Trained every step.</summary>
    Completed,
    /// <summary>Rejected or failed; <see cref="JobProgress.Message"/> says why.</summary>
    Failed,
    /// <summary>Cancelled by the user.</summary>
    Cancelled,
}

/// <summary>A snapshot of a job's progress, as clients see it.</summary>
[GenerateSerializer, Immutable]
public sealed record JobProgress
{
    /// <summary>The job's id.</summary>
    [Id(0)] public required string JobId { get; init; }
    /// <summary>Lifecycle state.</summary>
    [Id(1)] public JobState State { get; init; }
    /// <summary>Latest completed optimizer step (1-based; 0 before the first).</summary>
    [Id(2)] public int Step { get; init; }
    /// <summary>The job's step count.</summary>
    [Id(3)] public int TotalSteps { get; init; }
    /// <summary>0-based epoch of the latest step's data.</summary>
    [Id(4)] public int Epoch { get; init; }
    /// <summary>Loss of the latest optimizer step (mean over its micro-batches).</summary>
    [Id(5)] public float Loss { get; init; } = float.NaN;
    /// <summary>Tokens applied per second of the job's activation, over all its attempts.</summary>
    [Id(6)] public double TokensPerSecond { get; init; }
    /// <summary>Fraction of wall time each stage spent computing since the job started, by stage key.</summary>
    [Id(7)] public IReadOnlyDictionary<string, double> StageUtilisation { get; init; } = new Dictionary<string, double>();
    /// <summary>Why the job failed, or other news for the user.</summary>
    [Id(8)] public string? Message { get; init; }
    /// <summary>Per-step losses so far (index = step − 1).</summary>
    [Id(9)] public IReadOnlyList<float> Losses { get; init; } = [];
    /// <summary>Where each stage runs: stage key → device slot.</summary>
    [Id(10)] public IReadOnlyDictionary<string, string> Placement { get; init; } = new Dictionary<string, string>();
    /// <summary>Silo hosting the job grain.</summary>
    [Id(11)] public string? JobSilo { get; init; }
    /// <summary>Silo hosting the side trainer (as of the latest (re)initialization).</summary>
    [Id(12)] public string? SideSilo { get; init; }
    /// <summary>Pipeline attempt: 0 at start, +1 per recovery. Work of an older attempt is dropped (fencing).</summary>
    [Id(13)] public int Attempt { get; init; }
    /// <summary>Optimizer step of the latest committed checkpoint (0 = none yet).</summary>
    [Id(14)] public int LastCheckpointStep { get; init; }
    /// <summary>Every recovery of this job, oldest first.</summary>
    [Id(15)] public IReadOnlyList<RecoveryRecord> Recoveries { get; init; } = [];
    /// <summary>For a failed job: whether its input was bad (the CLI exits 2) or recovery gave up (exit 1).</summary>
    [Id(16)] public ErrorKind? Error { get; init; }
    /// <summary>Micro-batches fed to the pipeline and not yet applied (0 for a paused job means nothing runs any more).</summary>
    [Id(17)] public int InFlight { get; init; }
    /// <summary>Global gradient norm (before clipping) of the latest step this activation saw; null when unknown.</summary>
    [Id(18)] public double? GradNorm { get; init; }
    /// <summary>The latest evaluation (validation loss/perplexity, MMLU-style accuracy) and its step; null before the first.</summary>
    [Id(19)] public JobEvaluation? Evaluation { get; init; }
    /// <summary>Why the snapshot's own step (<see cref="Step"/>) applied no update (<c>optimizer.non_finite = skip</c>); null
    /// when it was applied or is unknown to this activation.</summary>
    [Id(20)] public string? StepSkipped { get; init; }

    /// <summary>Completed, failed or cancelled.</summary>
    public bool IsFinished => State is JobState.Completed or JobState.Failed or JobState.Cancelled;
}

/// <summary>
/// One recovery of a job: the attempt it started, why, when the fault was detected, the checkpoint step it resumed
/// from, and how long from detection to the first optimizer step completed after the resume (null until then).
/// </summary>
/// <param name="Attempt">The pipeline attempt the recovery started.</param>
/// <param name="Reason">The fault that caused it.</param>
/// <param name="DetectedAt">When the fault was detected.</param>
/// <param name="ResumedFromStep">The checkpoint step it resumed from (−1 while the recovery runs).</param>
/// <param name="SecondsToFirstStep">Detection to the first step completed after the resume (null until then).</param>
[GenerateSerializer, Immutable]
public sealed record RecoveryRecord(
    [property: Id(0)] int Attempt,
    [property: Id(1)] string Reason,
    [property: Id(2)] DateTimeOffset DetectedAt,
    [property: Id(3)] int ResumedFromStep,
    [property: Id(4)] double? SecondsToFirstStep);
