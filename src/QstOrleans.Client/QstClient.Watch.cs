using System.Runtime.CompilerServices;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Client;

/// <summary>Pushed progress: <see cref="WatchAsync"/> (events) and <see cref="FollowAsync"/> (snapshots built from them).</summary>
public sealed partial class QstClient
{
    /// <summary>How long <see cref="WatchAsync"/> rides out a cluster that does not answer (silos dying, the job grain
    /// re-activating elsewhere) before it gives up with the last error.</summary>
    public static readonly TimeSpan FollowOutageLimit = TimeSpan.FromMinutes(3);
    /// <summary>Pause between reconnection attempts of <see cref="WatchAsync"/>.</summary>
    public static readonly TimeSpan WatchRetryDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The job's events as they happen: the steps after <paramref name="afterStep"/> already done, the current state, then
    /// each completed step (loss, lr, epoch, throughput), state change, recovery and checkpoint; ends after the event that
    /// says the job finished. Steps are strictly increasing: after a recovery (a <see cref="JobRecovered"/> event) the
    /// stream continues after the last step reported, without repeating replayed ones. The cluster pushes each event once
    /// (no polling); when the job's silo dies the watch reconnects where it left off, for up to <see cref="FollowOutageLimit"/>.
    /// Throws <see cref="JobNotFoundException"/> for an unknown id.
    /// </summary>
    public IAsyncEnumerable<JobEvent> WatchAsync(string jobId, int afterStep = 0, CancellationToken cancel = default) =>
        WatchCore(jobId, afterStep, 0, cancel);

    async IAsyncEnumerable<JobEvent> WatchCore(string jobId, int afterStep, int afterRecoveries, [EnumeratorCancellation] CancellationToken cancel)
    {
        var job = Job(jobId);
        int lastStep = afterStep, recoveries = afterRecoveries;
        JobStateChanged? lastState = null;
        DateTime? failingSince = null;
        while (true)
        {
            var events = job.Watch(lastStep, recoveries).GetAsyncEnumerator(cancel);
            try
            {
                while (true)
                {
                    bool more;
                    try
                    {
                        more = await events.MoveNextAsync();
                        failingSince = null;
                    }
                    catch (Exception error) when (IsTransient(error) && !cancel.IsCancellationRequested
                                              && DateTime.UtcNow - (failingSince ??= DateTime.UtcNow) < FollowOutageLimit)
                    {
                        break;   // reconnect below, after the last event seen
                    }
                    if (!more) yield break;
                    var e = events.Current;
                    switch (e)
                    {
                        case JobStepCompleted step when step.Step <= lastStep: continue;
                        case JobStepCompleted step: lastStep = step.Step; break;
                        case JobRecovered: recoveries++; break;
                        case JobStateChanged state when state == lastState: continue;   // repeated on reconnect
                        case JobStateChanged state: lastState = state; break;
                    }
                    yield return e;
                    if (e is JobStateChanged { IsFinished: true }) yield break;
                }
            }
            finally
            {
                try { await events.DisposeAsync(); }
                catch (Exception error) when (IsTransient(error)) { }   // the silo holding the enumeration is gone
            }
            await Task.Delay(WatchRetryDelay, cancel);
        }
    }

    /// <summary>
    /// The job's progress as snapshots, built on <see cref="WatchAsync"/>: the full snapshot once, then one per event
    /// (each completed step, state change and recovery) with the step, epoch, loss, attempt and throughput updated; state
    /// changes and the end re-read the full snapshot (placement, recoveries, losses). Steps never go backwards.
    /// </summary>
    /// <param name="jobId">The job.</param>
    /// <param name="pollInterval">Unused since progress is pushed; kept for source compatibility.</param>
    /// <param name="cancel">Stops following (the job keeps running).</param>
    public async IAsyncEnumerable<JobProgress> FollowAsync(string jobId, TimeSpan pollInterval,
        [EnumeratorCancellation] CancellationToken cancel = default)
    {
        var progress = await StatusAsync(jobId);
        yield return progress;
        if (progress.IsFinished) yield break;
        await foreach (var e in WatchCore(jobId, progress.Step, progress.Recoveries.Count, cancel))
        {
            switch (e)
            {
                case JobStepCompleted step:
                    progress = progress with
                    {
                        Step = step.Step, Epoch = step.Epoch ?? progress.Epoch, Loss = step.Loss,
                        TokensPerSecond = step.TokensPerSecond > 0 ? step.TokensPerSecond : progress.TokensPerSecond,
                        GradNorm = step.GradNorm, Evaluation = step.Evaluation ?? progress.Evaluation, StepSkipped = step.Skipped,
                    };
                    break;
                case JobStateChanged or JobRecovered:
                    int step0 = progress.Step;
                    try { progress = await StatusAsync(jobId); }
                    catch (Exception x) when (IsTransient(x)) { }
                    if (e is JobStateChanged state) progress = progress with { State = state.State, Message = state.Message, Attempt = state.Attempt, Error = state.Error };
                    progress = progress with { Step = Math.Max(step0, progress.Step) };   // the snapshot may lag a step reported by an event
                    break;
                default:
                    continue;
            }
            yield return progress;
        }
    }
}
