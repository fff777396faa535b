using System.Diagnostics;

namespace QstOrleans.Grains.Jobs.Recovery;

/// <summary>What <see cref="RecoverySupervisor.Report"/> decided about a fault.</summary>
public enum FaultVerdict
{
    /// <summary>The fault concerns an older attempt: its work is already fenced off.</summary>
    Fenced,
    /// <summary>A recovery is running: the fault is kept and handed back by <see cref="RecoverySupervisor.End"/>.</summary>
    Queued,
    /// <summary>The caller must start a recovery now.</summary>
    Start,
}

/// <summary>
/// The decisions of a job's recovery protocol, without the grain calls that carry it out: which faults start a
/// recovery, which are fenced and which wait for the running recovery to finish; when to give up (more than
/// <see cref="RecoveryPolicy.MaxRecoveriesWithoutProgress"/> recoveries in a row without a completed step); how long
/// to wait before retrying a recovery that hit the cluster still noticing a failure, and when a retry is pointless
/// (a deterministic error, or past <see cref="RecoveryPolicy.RecoveryTimeout"/>); and the time from a fault to the
/// first step after it.
/// </summary>
/// <remarks>
/// Threading: not thread-safe. The job grain calls it from its turns and from the recovery task it started in a turn,
/// whose continuations run on the grain's scheduler, so the calls never overlap.
/// A fault reported while a recovery runs is queued, not dropped: the recovery may just have started the new attempt's
/// pipeline when that pipeline breaks, and nothing else would notice before the watchdog's stall timeout.
/// </remarks>
public sealed class RecoverySupervisor(RecoveryPolicy policy)
{
    (int Attempt, string Reason)? _queued;
    Stopwatch? _sinceFault;
    Stopwatch _sinceBegin = new();

    public RecoveryPolicy Policy => policy;

    /// <summary>A recovery was started and has not called <see cref="End"/> yet.</summary>
    public bool Recovering { get; private set; }

    public int RecoveriesWithoutProgress { get; private set; }

    /// <summary>A fault of <paramref name="faultAttempt"/> while the job runs <paramref name="currentAttempt"/>.</summary>
    public FaultVerdict Report(int faultAttempt, int currentAttempt, string reason)
    {
        if (faultAttempt != currentAttempt) return FaultVerdict.Fenced;
        if (Recovering)
        {
            _queued ??= (faultAttempt, reason);   // the first symptom names the cause best
            return FaultVerdict.Queued;
        }
        Recovering = true;
        return FaultVerdict.Start;
    }

    /// <summary>Counts the recovery that <see cref="Report"/> started; false when the job must give up instead.</summary>
    public bool Begin()
    {
        _sinceFault = Stopwatch.StartNew();
        _sinceBegin = Stopwatch.StartNew();
        return ++RecoveriesWithoutProgress <= policy.MaxRecoveriesWithoutProgress;
    }

    /// <summary>
    /// After the <paramref name="retry"/>-th failed try (0-based) of a recovery: the delay before the next try, or null
    /// when retrying cannot help (a deterministic error, or the recovery timeout has passed).
    /// </summary>
    public TimeSpan? RetryDelay(Exception error, int retry)
    {
        if (Faults.IsDeterministic(error) || _sinceBegin.Elapsed >= policy.RecoveryTimeout) return null;
        double ms = policy.FirstBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(retry, 30));
        return TimeSpan.FromMilliseconds(Math.Min(ms, policy.MaxBackoff.TotalMilliseconds));
    }

    /// <summary>
    /// The recovery is over (it succeeded, failed the job or found it finished). Returns the queued fault's reason when
    /// it concerns the attempt now running, so the caller reports it again (and so starts the next recovery).
    /// </summary>
    public string? End(int currentAttempt, bool pipelineRunning)
    {
        Recovering = false;
        var queued = _queued;
        _queued = null;
        return pipelineRunning && queued is { } q && q.Attempt == currentAttempt ? q.Reason : null;
    }

    /// <summary>A step completed: the give-up count restarts. Returns the time since the last fault when this is the first step after it.</summary>
    public TimeSpan? StepCompleted()
    {
        RecoveriesWithoutProgress = 0;
        var since = _sinceFault?.Elapsed;
        _sinceFault = null;
        return since;
    }
}
