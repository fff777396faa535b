using System.Diagnostics;
using Microsoft.Extensions.Logging;
using QstOrleans.Grains.Jobs.Pipeline;
using QstOrleans.Grains.Jobs.Recovery;
using QstOrleans.Grains.Placement;

namespace QstOrleans.Grains.Jobs;

/// <summary>
/// Carries out the recovery protocol of one <see cref="TrainingJobGrain"/>; the decisions are the
/// <see cref="RecoverySupervisor"/>'s. A fault is: an infrastructure exception while feeding the pipeline, a
/// <see cref="ITrainingJobGrain.ReportFault"/> from a stage or the side trainer, a failed health probe or a stall
/// (<see cref="Watch"/>), or the grain finding itself re-activated with a persisted running job (its silo died).
/// Recovery: attempt + 1 (persisted; older attempts' work is dropped everywhere), re-plan over the live slots (the
/// tokenized data comes from the planner's cache), load the stages, re-initialize the side trainer (it restores the
/// latest valid checkpoint and returns its position), and feed again from that position with fresh credits. It retries
/// while the cluster is still noticing the failure, up to <c>RecoveryTimeout</c>; deterministic errors, or
/// <c>MaxRecoveriesWithoutProgress</c> recoveries in a row without a completed step, fail the job with the reason.
/// </summary>
/// <remarks>A graceful stop of the job grain's silo (<see cref="Hosting.SiloStopping"/>): faults are ignored and a recovery
/// in progress stops without failing the job. Its stages and side trainer drop work and report faults as the silo stops, and a
/// recovery there would place grains on the silo that is going away, or record a failure the job does not have; the
/// activation that takes over on another silo (at the next call, the keepalive reminder or a silo start) finds the job
/// without a pipeline and recovers it from its checkpoint.
/// Threading: every member runs on the job grain's scheduler (called from its turns, or continuing the
/// recovery task or timer callback started there), so it may read and write the job's record and parts.</remarks>
internal sealed class TrainingJobRecovery(TrainingJobGrain job, RecoverySupervisor supervisor)
{
    JobRecord Record => job.Record;

    /// <summary>A fault of <paramref name="attempt"/>: starts a recovery, queues it behind the running one, or drops it (fenced).</summary>
    public void Trigger(int attempt, string reason)
    {
        if (Record.IsFinished || Record.Spec is null) return;
        if (job.Stopping.IsStopping)
        {
            job.Log.LogInformation("job {Job}: fault ignored, this silo is stopping (the job recovers where its grain re-activates): {Reason}", job.JobId, reason);
            return;
        }
        if (supervisor.Report(attempt, Record.Attempt, reason) == FaultVerdict.Start) _ = Recover(reason);
    }

    /// <summary>
    /// Runs the feeder of <paramref name="run"/> from <paramref name="from"/> (a task the grain starts in a turn, so it
    /// continues on the grain's scheduler). A failed send is a fault: an infrastructure error recovers, any other fails the job.
    /// </summary>
    public async Task Feed(PipelineRun run, long from)
    {
        var inlet = new PipelineInlet(job.JobId, run.Plan, run.Attempt, job.Grains);
        try
        {
            await run.Feeder.RunAsync(from, run.Plan.TotalMicroBatches, inlet.SendAsync);
        }
        catch (Exception e) when (Faults.IsInfrastructure(e) || job.Stopping.IsStopping)
        {
            Trigger(run.Attempt, $"feeding the pipeline: {Faults.Message(e)}");
        }
        catch (Exception e) when (!run.Feeder.IsStopped)
        {
            await job.Fail($"feeding the pipeline: {Faults.Message(e)}", Faults.FinalKind(e));
        }
    }

    /// <summary>A fault a stage or the side trainer reported: counts for the running attempt, or for the one being recovered.</summary>
    public Task Reported(int attempt, string reason)
    {
        if (attempt == Record.Attempt && (job.Run?.Attempt == attempt || supervisor.Recovering)) Trigger(attempt, reason);
        return Task.CompletedTask;
    }

    /// <summary>Recovers a running (or paused) job that has no pipeline in this activation.</summary>
    public Task RecoverIfOrphaned(string reason)
    {
        if (job.Run is null && !supervisor.Recovering && Record.State is JobState.Running or JobState.Paused && Record.Spec is not null)
            Trigger(Record.Attempt, reason);
        return Task.CompletedTask;
    }

    /// <summary>The keepalive reminder: dropped once the job is finished, else it recovers a job left without a pipeline.</summary>
    public async Task ReminderTick(string reminder)
    {
        if (reminder != JobKeepAlive.Reminder) return;
        if (Record.IsFinished || Record.State == JobState.Pending) await JobKeepAlive.Set(job, false, job.Log);
        else await RecoverIfOrphaned("keepalive reminder found the job without a pipeline");
    }

    public void StepCompleted()
    {
        if (supervisor.StepCompleted() is not { } since || Record.Recoveries.Count == 0 || Record.Recoveries[^1].SecondsToFirstStep is not null) return;
        Record.Recoveries[^1] = Record.Recoveries[^1] with { SecondsToFirstStep = since.TotalSeconds };
        job.Log.LogWarning("job {Job}: first step after recovery {Attempt} done, {Seconds:F1} s after the fault", job.JobId, Record.Attempt, since.TotalSeconds);
    }

    async Task Recover(string reason)
    {
        try
        {
            await RecoverOnce(reason);
        }
        catch (Exception e)
        {
            job.Log.LogError(e, "job {Job}: recovery after '{Reason}' threw", job.JobId, reason);
        }
        finally
        {
            // A fault reported while this recovery ran (its new pipeline may already have broken) is handled now.
            if (supervisor.End(Record.Attempt, job.Run is not null && !Record.IsFinished) is { } queued) Trigger(Record.Attempt, queued);
        }
    }

    async Task RecoverOnce(string reason)
    {
        var detected = DateTimeOffset.UtcNow;
        job.DropPipeline();
        if (!supervisor.Begin())
        {
            await job.Fail($"gave up after {supervisor.Policy.MaxRecoveriesWithoutProgress} recoveries without a completed step; last fault: {reason}", ErrorKind.Fatal);
            return;
        }
        int attempt = ++Record.Attempt;
        Record.Recoveries.Add(new RecoveryRecord(attempt, reason, detected, -1, null));
        Telemetry.QstMeters.RecoveryStarted(job.JobId);
        await job.Persist();
        job.Log.LogWarning("job {Job}: recovering (attempt {Attempt}) after: {Reason}", job.JobId, attempt, reason);
        var clock = Stopwatch.StartNew();
        for (int retry = 0; ; retry++)
        {
            if (Record.IsFinished) return;   // cancelled meanwhile
            try
            {
                var plan = await job.Plan(Record.Spec!, fitToSlots: true);
                var position = await job.Launch(plan, attempt);
                if (Record.IsFinished) return;
                Record.Recoveries[^1] = Record.Recoveries[^1] with { ResumedFromStep = position.Step };
                Record.Message = $"recovered (attempt {attempt}) from {(position.CheckpointStep is { } c ? $"checkpoint step {c}" : "the start")} after: {reason}";
                job.StartPipeline(plan, attempt, position);
                await job.Persist();
                job.Log.LogWarning("job {Job}: attempt {Attempt} resumes at step {Step} (micro-batch {Next}) over {Stages} stage(s), {Seconds:F1} s after the fault",
                    job.JobId, attempt, position.Step, position.NextMicroBatch, plan.Stages.Count, clock.Elapsed.TotalSeconds);
                return;
            }
            catch (Exception e)
            {
                if (job.Stopping.IsStopping)
                {
                    job.Log.LogInformation("job {Job}: recovery attempt {Attempt} stopped, this silo is stopping: {Message}", job.JobId, attempt, Faults.Message(e));
                    return;
                }
                if (supervisor.RetryDelay(e, retry) is not { } delay)
                {
                    await job.Fail($"recovery after '{reason}' failed: {Faults.Message(e)}", Faults.FinalKind(e));
                    return;
                }
                // The cluster may not have declared the dead silo dead yet: its slots still look live, calls to it fail.
                job.Log.LogInformation("job {Job}: recovery attempt {Attempt} not ready: {Message}; retrying in {Delay} ms", job.JobId, attempt,
                    Faults.Message(e), delay.TotalMilliseconds);
                await Task.Delay(delay);
            }
        }
    }

    /// <summary>The watchdog (a grain timer, interleaved with calls because probes may be slow).</summary>
    public async Task Watch(CancellationToken cancel)
    {
        if (Record.IsFinished || supervisor.Recovering || Record.Spec is null) return;
        if (job.Run is not { } run)
        {
            if (Record.State == JobState.Running) Trigger(Record.Attempt, "job grain re-activated with a running job (its silo failed?)");
            return;
        }
        if (Record.State == JobState.Paused) return;
        if (HealthProbe.Stalled(supervisor.Policy, run.Feeder.InFlight, run.Feeder.LastProgress, DateTimeOffset.UtcNow) is { } stall)
        {
            Trigger(run.Attempt, stall);
            return;
        }
        var verdict = await HealthProbe.CheckAsync(supervisor.Policy, run.Attempt,
            // With the placement hint: a probe that re-activates a side trainer whose silo died places it as a launch would.
            () => SideTrainerPlacement.WithHint(run.Plan.Stages.Select(s => s.Slot.Id).ToList(), () => job.Grains.GetGrain<ISideTrainerGrain>(job.JobId).GetStatus()),
            () => Task.WhenAll(run.Plan.StageKeys.Select(k => job.Grains.GetGrain<IBackboneStageGrain>(k).GetStatus())), cancel,
            ProbeBudget.BytesInFlight(run.Plan));
        if (job.Run != run) return;   // the pipeline changed while the probe ran
        if (verdict.Fault is { } fault) Trigger(run.Attempt, fault);
        else if (verdict.Warning is { } warning) job.Log.LogWarning("job {Job}: {Warning}", job.JobId, warning);
    }
}
