using System.Diagnostics;
using Microsoft.Extensions.Logging;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Grains.Jobs;

/// <summary>
/// The recovery protocol of a job. A fault is: an infrastructure exception while feeding the pipeline, a
/// <see cref="ReportFault"/> from a stage or the side trainer, a failed health probe (a stage unreachable, or the
/// side trainer re-activated without state), the watchdog (no micro-batch applied for <c>StallTimeout</c> with work
/// in flight), or this grain finding itself re-activated with a persisted running job (its silo died).
/// Recovery: attempt + 1 (persisted; older attempts' work is dropped everywhere), re-plan over the live slots, load
/// the stages, re-initialize the side trainer (it restores the latest valid checkpoint and returns its position), and
/// pump again from that position with fresh credits. A recovery retries while the cluster is still noticing the
/// failure, up to <c>RecoveryTimeout</c>; deterministic errors, or <c>MaxRecoveriesWithoutProgress</c> recoveries in a
/// row without a completed step, fail the job with the reason.
/// </summary>
public sealed partial class TrainingJobGrain
{
    const string KeepAliveReminder = "keepalive";
    Task _recovery = Task.CompletedTask;
    int _recoveriesWithoutProgress;
    Stopwatch? _sinceFault;

    bool Recovering => !_recovery.IsCompleted;

    /// <summary>Starts a recovery unless one runs, the job is finished, or <paramref name="attempt"/> is not the current one.</summary>
    void TriggerRecovery(int attempt, string reason)
    {
        if (Record.IsFinished || Record.Spec is null || Recovering || attempt != Record.Attempt) return;
        _recovery = Recover(reason);
    }

    /// <summary>Recovers a running (or paused) job that has no pipeline in this activation.</summary>
    void RecoverIfOrphaned(string reason)
    {
        if (_run is null && Record.State is JobState.Running or JobState.Paused && Record.Spec is not null)
            TriggerRecovery(Record.Attempt, reason);
    }

    public Task ReportFault(int attempt, string message)
    {
        if (attempt == Record.Attempt && _run?.Attempt == attempt) TriggerRecovery(attempt, message);
        return Task.CompletedTask;
    }

    async Task Recover(string reason)
    {
        var detected = DateTimeOffset.UtcNow;
        _sinceFault = Stopwatch.StartNew();
        StopPipeline();
        _run = null;
        if (++_recoveriesWithoutProgress > silo.MaxRecoveriesWithoutProgress)
        {
            await Fail($"gave up after {silo.MaxRecoveriesWithoutProgress} recoveries without a completed step; last fault: {reason}");
            return;
        }
        int attempt = ++Record.Attempt;
        Record.Recoveries.Add(new RecoveryRecord(attempt, reason, detected, -1, null));
        await Persist();
        log.LogWarning("job {Job}: recovering (attempt {Attempt}) after: {Reason}", JobId, attempt, reason);
        var deadline = DateTime.UtcNow + silo.RecoveryTimeout;
        var backoff = TimeSpan.FromMilliseconds(250);
        while (true)
        {
            if (Record.IsFinished) return;   // cancelled meanwhile
            try
            {
                var plan = await JobPlan.Build(Record.Spec!, GrainFactory.GetGrain<IClusterSlotsGrain>(0), fitToSlots: true);
                var position = await Launch(plan, attempt);
                if (Record.IsFinished) return;
                Record.Recoveries[^1] = Record.Recoveries[^1] with { ResumedFromStep = position.Step };
                Record.Message = $"recovered (attempt {attempt}) from {(position.CheckpointStep is { } c ? $"checkpoint step {c}" : "the start")} after: {reason}";
                StartPipeline(plan, attempt, position);
                await Persist();
                log.LogWarning("job {Job}: attempt {Attempt} resumes at step {Step} (micro-batch {Next}) over {Stages} stage(s), {Seconds:F1} s after the fault",
                    JobId, attempt, position.Step, position.NextMicroBatch, plan.Stages.Count, _sinceFault.Elapsed.TotalSeconds);
                return;
            }
            catch (Exception e) when (!Faults.IsDeterministic(e) && DateTime.UtcNow < deadline)
            {
                // The cluster may not have declared the dead silo dead yet: its slots still look live, calls to it fail.
                log.LogInformation("job {Job}: recovery attempt {Attempt} not ready: {Message}; retrying in {Delay} ms", JobId, attempt,
                    Faults.Message(e), backoff.TotalMilliseconds);
                await Task.Delay(backoff);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 4000));
            }
            catch (Exception e)
            {
                await Fail($"recovery after '{reason}' failed: {Faults.Message(e)}");
                return;
            }
        }
    }

    /// <summary>On the first completed step after a recovery: progress resets the give-up counter and the recovery time is recorded.</summary>
    void OnStepAfterRecovery()
    {
        _recoveriesWithoutProgress = 0;
        if (_sinceFault is null || Record.Recoveries.Count == 0) return;
        Record.Recoveries[^1] = Record.Recoveries[^1] with { SecondsToFirstStep = _sinceFault.Elapsed.TotalSeconds };
        log.LogWarning("job {Job}: first step after recovery {Attempt} done, {Seconds:F1} s after the fault", JobId, Record.Attempt, _sinceFault.Elapsed.TotalSeconds);
        _sinceFault = null;
    }

    /// <summary>Health probe + watchdog, every <c>HealthCheckPeriod</c>, interleaved with calls (probes may be slow).</summary>
    void StartWatchdog() =>
        this.RegisterGrainTimer(Watch, new GrainTimerCreationOptions
        {
            DueTime = TimeSpan.FromMilliseconds(100), Period = silo.HealthCheckPeriod, Interleave = true, KeepAlive = false,
        });

    async Task Watch(CancellationToken cancel)
    {
        if (Record.IsFinished || Recovering || Record.Spec is null) return;
        if (_run is not { } run)
        {
            if (Record.State == JobState.Running) TriggerRecovery(Record.Attempt, "job grain re-activated with a running job (its silo failed?)");
            return;
        }
        if (Record.State == JobState.Paused) return;
        if (run.TokensInFlight.Count > 0 && DateTime.UtcNow - run.LastProgressUtc > silo.StallTimeout)
        {
            TriggerRecovery(run.Attempt, $"no micro-batch applied for {silo.StallTimeout.TotalSeconds:F0} s");
            return;
        }
        var probeTimeout = TimeSpan.FromSeconds(10);
        try
        {
            var side = await GrainFactory.GetGrain<ISideTrainerGrain>(JobId).GetStatus().WaitAsync(probeTimeout, cancel);
            if (side.Attempt != run.Attempt && _run == run)
            {
                TriggerRecovery(run.Attempt, side.Attempt < 0
                    ? $"side trainer re-activated on silo {side.Silo} without state (its silo failed?)"
                    : $"side trainer is at attempt {side.Attempt}, the job at {run.Attempt}");
                return;
            }
            await Task.WhenAll(run.Plan.StageKeys.Select(k => GrainFactory.GetGrain<IBackboneStageGrain>(k).GetStatus())).WaitAsync(probeTimeout, cancel);
        }
        catch (Exception e) when (Faults.IsInfrastructure(e) && _run == run)
        {
            TriggerRecovery(run.Attempt, $"health probe: {Faults.Message(e)}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning("job {Job}: health probe failed: {Message}", JobId, Faults.Message(e));
        }
    }

    /// <summary>Registers (or drops) the keepalive reminder that re-activates the job after its silo died.</summary>
    async Task KeepAlive(bool on)
    {
        try
        {
            if (on)
            {
                await this.RegisterOrUpdateReminder(KeepAliveReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            }
            else if (await this.GetReminder(KeepAliveReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception e)
        {
            // Without the reminder the job still recovers on the next call or silo start; only the idle wake-up is lost.
            log.LogWarning("job {Job}: keepalive reminder {Action} failed: {Message}", JobId, on ? "registration" : "removal", e.Message);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != KeepAliveReminder) return;
        if (Record.IsFinished || Record.State == JobState.Pending) await KeepAlive(false);
        else RecoverIfOrphaned("keepalive reminder found the job without a pipeline");
    }
}
