namespace QstOrleans.Grains.Jobs;

/// <summary>
/// The durable state of a training job (grain storage <see cref="Hosting.QstProviders.State"/>, state name <c>job</c>):
/// small by design (tensors live in the checkpoint store, per-step losses in chunks beside the record, see
/// <see cref="Progress.LossHistory"/>). Written at start, on each checkpoint commit, on every state change and on
/// recovery; never per micro-batch. Losses of steps after the last write are recomputed after a recovery.
/// </summary>
[GenerateSerializer]
public sealed class JobRecord
{
    [Id(0)] public JobSpec? Spec { get; set; }
    [Id(1)] public JobState State { get; set; } = JobState.Pending;
    [Id(2)] public int TotalSteps { get; set; }
    /// <summary>Only in records written before the loss history moved out of the record: imported into it on activation, then emptied.</summary>
    [Id(3)] public List<float> Losses { get; set; } = [];
    /// <summary>Pipeline attempt; +1 per recovery (work of older attempts is fenced off).</summary>
    [Id(4)] public int Attempt { get; set; }
    /// <summary>Step of the latest checkpoint known committed (0 = none), and the micro-batch it resumes at.</summary>
    [Id(5)] public int CheckpointStep { get; set; }
    [Id(6)] public long CheckpointNextMicroBatch { get; set; }
    [Id(7)] public List<RecoveryRecord> Recoveries { get; set; } = [];
    [Id(8)] public string? Message { get; set; }
    /// <summary>Latest completed optimizer step as of the last write.</summary>
    [Id(9)] public int Step { get; set; }
    [Id(10)] public DateTimeOffset? StartedUtc { get; set; }
    /// <summary>Steps stored in the loss history's chunks as of the last write.</summary>
    [Id(11)] public int LossCount { get; set; }
    /// <summary>The class of the error that failed the job (null unless <see cref="State"/> is Failed).</summary>
    [Id(12)] public ErrorKind? Error { get; set; }
    /// <summary>The verified user who submitted the job (null when the cluster had no tokens file then).</summary>
    [Id(13)] public string? Owner { get; set; }

    public bool IsFinished => State is JobState.Completed or JobState.Failed or JobState.Cancelled;
}
