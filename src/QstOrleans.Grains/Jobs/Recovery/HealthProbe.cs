namespace QstOrleans.Grains.Jobs.Recovery;

/// <summary>The outcome of one health probe: healthy (both null), a fault to recover from, or a warning to log.</summary>
public sealed record ProbeVerdict(string? Fault, string? Warning)
{
    public static readonly ProbeVerdict Healthy = new(null, null);
}

/// <summary>
/// The job's watchdog checks, every <c>HealthCheckPeriod</c>: a stall (work in flight and no micro-batch applied for
/// <see cref="RecoveryPolicy.StallTimeout"/>), then a probe of the side trainer (it must be at the job's attempt; a
/// re-activated one has no state) and of every stage. Each probe call gets <see cref="RecoveryPolicy.ProbeTimeout"/> of the
/// bytes the pipeline may have in flight (a probe can queue behind them on a slow link): no answer in time counts as an
/// infrastructure fault (the silo is gone or hung).
/// </summary>
public static class HealthProbe
{
    public static string? Stalled(RecoveryPolicy policy, int inFlight, DateTimeOffset lastProgress, DateTimeOffset now) =>
        inFlight > 0 && now - lastProgress > policy.StallTimeout ? $"no micro-batch applied for {policy.StallTimeout.TotalSeconds:F0} s" : null;

    /// <param name="bytesInFlight">What may be queued on the links ahead of the probe (<see cref="ProbeBudget"/>).</param>
    public static async Task<ProbeVerdict> CheckAsync(RecoveryPolicy policy, int attempt, Func<Task<SideStatus>> side, Func<Task> stages,
        CancellationToken cancel, long bytesInFlight = 0)
    {
        var timeout = policy.ProbeTimeout(bytesInFlight);
        try
        {
            var status = await Within(side(), timeout, "side trainer", cancel);
            if (status.Attempt != attempt)
                return new ProbeVerdict(status.Attempt < 0
                    ? $"side trainer re-activated on silo {status.Silo} without state (its silo failed?)"
                    : $"side trainer is at attempt {status.Attempt}, the job at {attempt}", null);
            await Within(WithResult(stages()), timeout, "stages", cancel);
            return ProbeVerdict.Healthy;
        }
        catch (Exception e) when (Faults.IsInfrastructure(e))
        {
            return new ProbeVerdict($"health probe: {Faults.Message(e)}", null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new ProbeVerdict(null, $"health probe failed: {Faults.Message(e)}");
        }
    }

    static async Task<bool> WithResult(Task call)
    {
        await call;
        return true;
    }

    static async Task<T> Within<T>(Task<T> call, TimeSpan timeout, string what, CancellationToken cancel)
    {
        try
        {
            return await call.WaitAsync(timeout, cancel);
        }
        catch (TimeoutException) when (!call.IsCompleted)
        {
            throw new TimeoutException($"the {what} did not answer within {timeout.TotalSeconds:0.###} s (Qst:HealthProbeTimeout, scaled by Qst:MinLinkMbit)");
        }
    }
}
