namespace QstOrleans.Contracts.Wire;

/// <summary>
/// One thing that happened to a job, pushed to a watching client (<see cref="Grains.ITrainingJobGrain.Watch"/>): a
/// completed optimizer step, a state change, a recovery, a committed checkpoint. Steps are monotonic per watch: after a
/// recovery the replayed steps already reported are not sent again, the stream continues after the last one.
/// </summary>
[GenerateSerializer, Immutable]
public abstract record JobEvent;

/// <summary>One optimizer step completed.</summary>
/// <param name="Step">1-based optimizer step.</param>
/// <param name="TotalSteps">The job's step count.</param>
/// <param name="Epoch">0-based epoch of the step's data; null when the job's plan is not loaded (a finished job after a restart).</param>
/// <param name="Loss">The step's loss (mean over its micro-batches).</param>
/// <param name="LearningRate">The learning rate the step's update used; NaN when the plan is not loaded.</param>
/// <param name="GradNorm">The global gradient norm before clipping, when the side trainer reports it (null otherwise).</param>
/// <param name="ValidationLoss">The validation loss evaluated at this step, when the job evaluates (null otherwise).</param>
/// <param name="TokensPerSecond">The job's throughput so far, as in <see cref="JobProgress.TokensPerSecond"/> (0 for replayed history).</param>
/// <param name="Evaluation">The whole evaluation of this step (validation loss, perplexity, MMLU-style accuracy), when the job evaluated it.</param>
/// <param name="Skipped">Why the step applied no update (<c>optimizer.non_finite = skip</c>: "non-finite loss" or "non-finite
/// gradient"); null for an applied step, and for replayed history whose step this job activation did not see.</param>
[GenerateSerializer, Immutable]
public sealed record JobStepCompleted(
    [property: Id(0)] int Step,
    [property: Id(1)] int TotalSteps,
    [property: Id(2)] int? Epoch,
    [property: Id(3)] float Loss,
    [property: Id(4)] double LearningRate,
    [property: Id(5)] double? GradNorm,
    [property: Id(6)] double? ValidationLoss,
    [property: Id(7)] double TokensPerSecond,
    [property: Id(8)] JobEvaluation? Evaluation = null,
    [property: Id(9)] string? Skipped = null) : JobEvent;

/// <summary>The job's state, message or attempt changed (also the first event of every watch, and the last one of a finished job).</summary>
/// <param name="State">The job's state.</param>
/// <param name="Step">Latest completed step.</param>
/// <param name="TotalSteps">The job's step count.</param>
/// <param name="Attempt">Pipeline attempt (+1 per recovery).</param>
/// <param name="Message">News or the failure reason.</param>
/// <param name="Error">For a failed job, the kind of error.</param>
/// <param name="InFlight">Micro-batches fed and not yet applied; 0 with <see cref="JobState.Paused"/> means nothing runs any more.</param>
[GenerateSerializer, Immutable]
public sealed record JobStateChanged(
    [property: Id(0)] JobState State,
    [property: Id(1)] int Step,
    [property: Id(2)] int TotalSteps,
    [property: Id(3)] int Attempt,
    [property: Id(4)] string? Message,
    [property: Id(5)] ErrorKind? Error,
    [property: Id(6)] int InFlight) : JobEvent
{
    /// <summary>Completed, failed or cancelled: the last event of a watch.</summary>
    public bool IsFinished => State is JobState.Completed or JobState.Failed or JobState.Cancelled;
    /// <summary>Paused with no micro-batch in flight: no step will complete until the job is resumed.</summary>
    public bool IsQuiescent => State == JobState.Paused && InFlight == 0;
}

/// <summary>The job recovered from a fault: a new pipeline attempt resumed at <see cref="RecoveryRecord.ResumedFromStep"/>.</summary>
/// <param name="Recovery">The recovery, as listed in <see cref="JobProgress.Recoveries"/>.</param>
[GenerateSerializer, Immutable]
public sealed record JobRecovered([property: Id(0)] RecoveryRecord Recovery) : JobEvent;

/// <summary>A checkpoint of <paramref name="Step"/> was committed to the cluster's checkpoint store.</summary>
/// <param name="Step">The checkpoint's optimizer step.</param>
[GenerateSerializer, Immutable]
public sealed record JobCheckpointCommitted([property: Id(0)] int Step) : JobEvent;
