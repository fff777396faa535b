namespace QstOrleans.Contracts.Wire;

/// <summary>What a submit did with its job id.</summary>
public enum SubmitOutcome
{
    /// <summary>A new job was accepted and started.</summary>
    Started,
    /// <summary>A new job was refused (bad spec or input): <see cref="JobProgress.Message"/> says why, its state is Failed.</summary>
    Rejected,
    /// <summary>A job with this id and the same spec exists and is not finished: nothing new was started (an unfinished job
    /// whose pipeline was lost is recovered from its latest checkpoint).</summary>
    AlreadySubmitted,
    /// <summary>A job with this id and the same spec has already finished (completed, failed or cancelled): its final state.</summary>
    AlreadyFinished,
}

/// <summary>The answer to a submit: what happened (<see cref="Outcome"/>) and the job's progress after it.</summary>
/// <param name="Outcome">Whether the job was started now, refused, or already existed.</param>
/// <param name="Progress">The job's progress right after the submit.</param>
[GenerateSerializer, Immutable]
public sealed record JobSubmission([property: Id(0)] SubmitOutcome Outcome, [property: Id(1)] JobProgress Progress)
{
    /// <summary>True when the submit found an existing job of the same spec instead of starting one.</summary>
    public bool Existed => Outcome is SubmitOutcome.AlreadySubmitted or SubmitOutcome.AlreadyFinished;
}
