using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Inputs;
using QstOrleans.Grains.Jobs.Pipeline;
using QstOrleans.Grains.Jobs.Planning;
using QstOrleans.Grains.Jobs.Progress;
using QstOrleans.Grains.Jobs.Recovery;

namespace QstOrleans.Grains.Jobs;

/// <summary>
/// Runs one training job by wiring plain parts together: <see cref="JobPlanner"/> (validates and plans, tokenizing off
/// the grain scheduler, cached per silo), <see cref="PipelineFeeder"/> (at most <see cref="JobSpec.Window"/> micro-batches
/// in flight, a credit back per micro-batch applied), <see cref="RecoverySupervisor"/> and <see cref="HealthProbe"/>
/// (faults, give-up, backoff, watchdog) and <see cref="LossHistory"/> (per-step losses in chunks beside the small
/// <see cref="JobRecord"/>). The recovery steps, and turning feeder errors into faults, are in <see cref="TrainingJobRecovery"/>; client-facing calls in <c>Clients/</c>.
/// </summary>
/// <remarks>Message flow (why the job → stages → side trainer → job cycle cannot deadlock) and threading: see <c>Jobs/README.md</c>.</remarks>
public sealed partial class TrainingJobGrain(
    [PersistentState("job", QstProviders.State)] IPersistentState<JobRecord> state,
    QstSiloOptions silo, CheckpointStores stores, JobPlanner planner, InputGuard guard, ILogger<TrainingJobGrain> log) : Grain, ITrainingJobGrain, IRemindable
{
    TrainingJobRecovery _recovery = null!;
    JobProgressTracker _progress = null!;
    JobStateWriter _writer = null!;

    internal JobRecord Record => state.State;
    internal string JobId => this.GetPrimaryKeyString();
    internal ILogger Log => log;
    internal PipelineRun? Run { get; private set; }
    internal PauseGate Gate { get; } = new();
    internal IGrainFactory Grains => GrainFactory;
    internal SiloStopping Stopping => ServiceProvider.GetRequiredService<SiloStopping>();   // on a stopping silo: no recovery, no failure

    public override async Task OnActivateAsync(CancellationToken token)
    {
        JobActivationLog.Activated(log, JobId, silo.SiloName, GrainContext.ActivationId, Record);
        if (Record.State == JobState.Paused) Gate.Close();
        var (losses, metrics) = await JobStateWriter.OpenHistoryAsync(ServiceProvider.GetRequiredKeyedService<IGrainStorage>(QstProviders.State),
            GrainContext.GrainId, Record);
        _progress = new JobProgressTracker(losses, Record, metrics);
        _writer = new JobStateWriter(state, losses, log, JobId, metrics);
        _recovery = new TrainingJobRecovery(this, new RecoverySupervisor(RecoveryPolicy.From(silo)));
        this.RegisterGrainTimer(_recovery.Watch, new GrainTimerCreationOptions
        {
            DueTime = TimeSpan.FromMilliseconds(100), Period = silo.HealthCheckPeriod, Interleave = true, KeepAlive = false,
        });
    }

    /// <summary>Stops feeding: the activation that takes over (on another silo) recovers the job from its record.</summary>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken token)
    {
        Run?.Feeder.Stop();
        return JobActivationLog.Deactivated(log, JobId, silo.SiloName, GrainContext.ActivationId, Record, reason);
    }

    public async Task<JobProgress> Start(JobSpec spec)
    {
        // Refused before anything is stored under the id (a record keyed by a hostile id is not written).
        if (JobIds.Problem(JobId) is { } bad) return new JobProgress { JobId = JobId, State = JobState.Failed, Message = bad, Error = ErrorKind.BadInput };
        if (Record.Spec is not null)
        {
            await _recovery.RecoverIfOrphaned("started again after its pipeline was lost");
            return await GetProgress();
        }
        Record.Owner = SubmitterName;   // the verified caller (Security/): only they or an admin may touch the job
        JobPlan plan;
        SidePosition position;
        try
        {
            plan = await Plan(spec, fitToSlots: false);
            position = await Launch(plan, attempt: 0);
            // Registered only once accepted, so the registry (and `qst jobs`) lists no rejected request.
            await GrainFactory.GetGrain<IJobRegistryGrain>(0).Register(JobId);
        }
        catch (Exception e)
        {
            log.LogWarning("job {Job} rejected: {Message}", JobId, Faults.Message(e));
            (Record.Spec, Record.State, Record.Message, Record.Error) = (spec, JobState.Failed, Faults.Message(e), Faults.FinalKind(e));
            await Persist();
            return await GetProgress();
        }
        Record.Spec = spec;
        Record.TotalSteps = plan.TotalSteps;
        Record.StartedUtc = DateTimeOffset.UtcNow;
        Record.State = JobState.Running;
        Record.Message = $"data: {plan.Batches.Summary}" + (position.CheckpointStep is { } c ? $"; resumed from checkpoint step {c}" : "");
        StartPipeline(plan, 0, position);
        if (!Record.IsFinished)
        {
            await Persist();
            await JobKeepAlive.Set(this, true, log);
        }
        log.LogInformation("job {Job}: {Steps} steps over {Stages} stages ({Placement}), from step {Step}", JobId, plan.TotalSteps, plan.Stages.Count,
            string.Join(", ", plan.Stages.Select(s => $"[{s.First},{s.End}) on {s.Slot.Id}")), position.Step);
        return await GetProgress();
    }

    /// <summary>Checks the client's paths (<see cref="InputGuard"/>), then plans over the slots live now (both on the thread pool).</summary>
    internal async Task<JobPlan> Plan(JobSpec spec, bool fitToSlots)
    {
        await Task.Run(() => guard.Check(spec));
        var local = await ServiceProvider.GetRequiredService<StoredDatasets>().LocalizeAsync(spec);   // store: URIs → this silo's cached copy
        return await planner.PlanAsync(local, await GrainFactory.GetGrain<IClusterSlotsGrain>(0).List(), fitToSlots) with { Spec = spec };
    }

    /// <summary>Loads the stages of <paramref name="plan"/> and (re)initializes the side trainer for <paramref name="attempt"/>.</summary>
    internal async Task<SidePosition> Launch(JobPlan plan, int attempt)
    {
        // The last committed checkpoint travels with the spec: a side trainer whose store lacks it (a checkpoint store not
        // shared across hosts) refuses to restart from step 0 (StoreContinuity).
        var (position, sideSilo) = await PipelineGrains.LaunchAsync(GrainFactory, JobId, plan, attempt, Record.CheckpointStep);
        _progress.SideSilo = sideSilo;
        foreach (var warning in position.Warnings) log.LogWarning("job {Job}: {Warning}", JobId, warning);
        return position;
    }

    /// <summary>Starts feeding attempt <paramref name="attempt"/> from the side trainer's position (synchronous: no interleaving).</summary>
    internal void StartPipeline(JobPlan plan, int attempt, SidePosition position)
    {
        _progress.Losses.RewindTo(position.Step, position.Losses);
        Record.Step = position.Step;
        Record.CheckpointStep = (int)(position.CheckpointStep ?? 0);
        Record.CheckpointNextMicroBatch = position.CheckpointStep is null ? 0 : position.NextMicroBatch;
        var run = new PipelineRun(attempt, plan, new PipelineFeeder(plan.Spec.Window, Gate));
        Run = run;
        _progress.Epoch = (int)(position.NextMicroBatch / Math.Max(1, plan.MicroBatchesPerEpoch));
        if (position.Step >= plan.TotalSteps)
        {
            Complete(position.Step);
            return;
        }
        _ = _recovery.Feed(run, position.NextMicroBatch);
    }

    /// <summary>Stops the current attempt's feeder (its stragglers are fenced by attempt) and forgets it.</summary>
    internal void DropPipeline()
    {
        if (Run is not { } run) return;
        run.Feeder.Stop();
        _progress.RunEnded(run.Feeder);
        Run = null;
    }

    public Task MicroBatchApplied(int attempt, long sequence, int step, float stepLoss, bool stepCompleted, StepMetrics? metrics = null)
    {
        var run = Run;
        if (run is null || attempt != run.Attempt || Record.IsFinished) return Task.CompletedTask;   // fenced or stale
        run.Feeder.Applied(sequence);
        Telemetry.QstMeters.MicroBatchApplied(JobId, step, stepLoss, stepCompleted, run.Plan.LrSchedule);
        if (stepCompleted) Record.Step = step;
        _progress.Applied(Record, run, sequence, step, stepLoss, stepCompleted, metrics);   // loss history, epoch, step event
        if (stepCompleted) { _recovery.StepCompleted(); if (step >= run.Plan.TotalSteps) Complete(step); }
        // Paused and drained: persist the steps the micro-batches in flight completed, then (Persist) publish the quiescence.
        return Record.State == JobState.Paused && run.Feeder.InFlight == 0 ? Persist() : Task.CompletedTask;
    }

    void Complete(int step)
    {
        Record.State = JobState.Completed;
        Record.Message = $"completed {step} steps in {_progress.Elapsed.TotalSeconds:F1} s" + (Record.Recoveries.Count > 0 ? $" ({Record.Recoveries.Count} recoveries)" : "");
        log.LogInformation("job {Job} completed: {Steps} steps, final loss {Loss:F4}", JobId, step, _progress.Losses.Last);
        _ = Finish();
    }

    public async Task CheckpointCommitted(int attempt, int step, long nextMicroBatch)
    {
        // Any attempt's checkpoint is valid (training is deterministic); the store keeps steps monotonic. Recorded even
        // when the upload finished after the job did, so the record names the store's latest checkpoint.
        if (Record.Spec is null || step <= Record.CheckpointStep) return;
        Record.CheckpointStep = step;
        Telemetry.QstMeters.CheckpointCommitted(JobId, step);
        Record.CheckpointNextMicroBatch = nextMicroBatch;
        await Persist();
    }

    /// <summary>A stage or the side trainer reports a deterministic failure: replaying the same input fails again.</summary>
    public Task Fail(string message) => Fail(message, ErrorKind.BadInput);

    internal async Task Fail(string message, ErrorKind kind)
    {
        if (Record.IsFinished) return;
        log.LogError("job {Job} failed ({Kind}): {Message}", JobId, kind, message);
        (Record.State, Record.Message, Record.Error) = (JobState.Failed, message, kind);
        await Finish();
    }

    /// <summary>Stops feeding (the last attempt stays, so progress still shows its placement), persists the final state and drops the keepalive reminder.</summary>
    async Task Finish()
    {
        Run?.Feeder.Stop();
        Gate.Open();
        await Persist();
        await JobKeepAlive.Set(this, false, log);
    }

    public async Task<JobProgress> GetProgress()
    {
        var progress = _progress.Snapshot(JobId, Known, Run, silo.SiloName);
        if (Run is not { } run) return progress;
        try { return progress with { StageUtilisation = await PipelineGrains.StageUtilisationAsync(GrainFactory, run.Plan) }; }
        catch (Exception e)
        {
            // A stage that cannot answer (its silo is gone) must not hide the job's own progress from clients.
            log.LogWarning("job {Job}: stage status unavailable: {Message}", JobId, Faults.Message(e));
            return progress;
        }
    }

    public async Task Pause()
    {
        if (Known.State != JobState.Running) return;
        Gate.Close();
        Record.State = JobState.Paused;
        await Persist();
    }

    public async Task Resume()
    {
        if (Known.IsFinished || Record.State == JobState.Pending) return;
        if (Record.State == JobState.Paused)
        {
            Record.State = JobState.Running;
            Gate.Open();
            await Persist();
        }
        await _recovery.RecoverIfOrphaned("resumed by the user");
    }

    public async Task Cancel()
    {
        if (Known.IsFinished) return;
        Record.State = JobState.Cancelled;
        Record.Message = $"cancelled by the user after {Record.Step} steps";
        await Finish();
    }

    public Task Poke() => _recovery.RecoverIfOrphaned("job grain re-activated (silo start or keepalive)");
    public Task ReportFault(int attempt, string message) => _recovery.Reported(attempt, message);
    public Task ReceiveReminder(string reminderName, TickStatus status) => _recovery.ReminderTick(reminderName);

    public async Task<IReadOnlyList<CheckpointInfo>> ListCheckpoints() => await CheckpointListing.List(await stores.ForJob(JobId));

    /// <summary>Writes loss chunks and record (errors logged; the next write retries), then publishes: a client told a paused
    /// job is quiescent may stop the silo at once.</summary>
    internal async Task Persist() { await _writer.WriteAsync(); _progress.Events.Observe(Record, Run?.Feeder.InFlight ?? 0); }
}
