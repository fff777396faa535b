using Orleans.Concurrency;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Contracts.Grains;

/// <summary>
/// Coordinates one training run (key = job id): validates the spec, plans the stages over the cluster's
/// device slots, streams micro-batches through the pipeline with a bounded window, and publishes progress.
/// Its small state (spec, state, losses, attempt, latest checkpoint) is persisted, and it recovers the pipeline
/// from the latest checkpoint when a silo fails (see <see cref="ReportFault"/>).
/// </summary>
public interface ITrainingJobGrain : IGrainWithStringKey
{
    /// <summary>Starts the job. A bad spec fails the job (State = Failed, Message says why); it never throws.
    /// A job that already exists is left as it is (an unfinished one is recovered if its pipeline is gone).</summary>
    [ResponseTimeout("00:10:00")]
    Task<JobProgress> Start(JobSpec spec);

    /// <summary>
    /// Submits the job under this id and says what happened: <see cref="SubmitOutcome.Started"/> or
    /// <see cref="SubmitOutcome.Rejected"/> for a new id; for an existing job with the same spec,
    /// <see cref="SubmitOutcome.AlreadySubmitted"/> (recovered if its pipeline is gone) or <see cref="SubmitOutcome.AlreadyFinished"/>.
    /// Throws <see cref="JobSpecConflictException"/> (listing the differing fields) when the id holds a job of another spec.
    /// </summary>
    [ResponseTimeout("00:10:00")]
    Task<JobSubmission> Submit(JobSpec spec);

    /// <summary>
    /// Pushes the job's events: first the recoveries after the first <paramref name="afterRecoveries"/> and the steps after
    /// <paramref name="afterStep"/> already done, then the current state, then live events as they happen; ends after the
    /// event that says the job finished. Steps never go backwards (replayed steps after a recovery are not sent again).
    /// Throws <see cref="JobNotFoundException"/> for an unknown id.
    /// </summary>
    IAsyncEnumerable<JobEvent> Watch(int afterStep, int afterRecoveries);

    /// <summary>The job's progress. Throws <see cref="JobNotFoundException"/> for an unknown id.</summary>
    Task<JobProgress> GetProgress();

    /// <summary>The losses of steps <paramref name="fromStep"/> (1-based) onwards (index 0 = that step); empty past the
    /// latest step. Lets a client follow a long run without fetching <see cref="JobProgress.Losses"/> whole each time.</summary>
    Task<IReadOnlyList<float>> GetLosses(int fromStep);

    /// <summary>Stops feeding micro-batches (those in flight are still applied). Throws <see cref="JobNotFoundException"/> for an unknown id.</summary>
    Task Pause();

    /// <summary>Resumes a paused job; an unfinished job whose pipeline is gone is recovered from its checkpoint.</summary>
    Task Resume();

    /// <summary>Ends the job for good. Throws <see cref="JobNotFoundException"/> for an unknown id (nothing is stored under it).</summary>
    Task Cancel();

    /// <summary>Activates the job so that an unfinished one recovers (silo startup, reminders). Cheap and idempotent.</summary>
    Task Poke();

    /// <summary>The job's committed checkpoints, oldest first.</summary>
    [ResponseTimeout("00:02:00")]
    Task<IReadOnlyList<CheckpointInfo>> ListCheckpoints();

    /// <summary>Called by the side trainer when micro-batch <paramref name="sequence"/> of <paramref name="attempt"/> has been applied;
    /// <paramref name="metrics"/> (grad norm, evaluation) comes with a completed step.</summary>
    [OneWay, ControlPlane]
    Task MicroBatchApplied(int attempt, long sequence, int step, float stepLoss, bool stepCompleted, StepMetrics? metrics = null);

    /// <summary>Called by the side trainer now and then while it evaluates after <paramref name="step"/> (no micro-batch is
    /// applied meanwhile): the watchdog must not take a long evaluation for a stall.</summary>
    [OneWay, ControlPlane]
    Task Evaluating(int attempt, int step);

    /// <summary>Called by the side trainer when the checkpoint of <paramref name="step"/> is committed.</summary>
    [OneWay, ControlPlane]
    Task CheckpointCommitted(int attempt, int step, long nextMicroBatch);

    /// <summary>
    /// Called by a stage or the side trainer when the pipeline of <paramref name="attempt"/> broke for an infrastructure
    /// reason (a silo died, a grain lost its state): the job recovers from its latest checkpoint.
    /// </summary>
    [OneWay, ControlPlane]
    Task ReportFault(int attempt, string message);

    /// <summary>Called by a stage or the side trainer when the job's work failed for a deterministic reason.</summary>
    [OneWay, ControlPlane]
    Task Fail(string message);

    /// <summary>
    /// Asks the side trainer to commit a checkpoint at its next optimizer-step boundary, whatever the job's checkpoint
    /// cadence (Ctrl+C on <c>qst train --local</c>). Returns the job's last committed checkpoint step before the request:
    /// the requested one is the first whose step is larger (watch <see cref="JobProgress.LastCheckpointStep"/>). A finished or
    /// paused job commits nothing new. Throws <see cref="JobNotFoundException"/> for an unknown id.
    /// </summary>
    Task<int> RequestCheckpoint();

    /// <summary>Whether the job exists and who submitted it (access checks inside the cluster; see <c>Qst:Auth</c>).</summary>
    [ControlPlane]
    Task<QstOrleans.Contracts.Security.JobOwnership> GetOwnership();
}
