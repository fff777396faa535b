using System.Diagnostics;
using Microsoft.Extensions.Logging;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Transport;

namespace QstOrleans.Grains.Jobs;

/// <summary>
/// Runs one training job: validates and plans it (<see cref="JobPlan"/>), loads the stages and the side
/// trainer, then pumps micro-batches through the pipeline with at most <see cref="JobSpec.Window"/> in
/// flight (a credit is returned when the side trainer applies a micro-batch). The pipeline never drains
/// between optimizer steps: the backbone is frozen, so micro-batch m+1 can run while m is being applied.
/// Fault tolerance (see the Recovery part): the job's <see cref="JobRecord"/> is persisted; a fault re-plans the
/// pipeline over the live silos under a new attempt number and replays the data from the latest checkpoint.
/// </summary>
public sealed partial class TrainingJobGrain(
    [PersistentState("job", QstProviders.State)] IPersistentState<JobRecord> state,
    QstSiloOptions silo, CheckpointStores stores, ILogger<TrainingJobGrain> log) : Grain, ITrainingJobGrain, IRemindable
{
    /// <summary>The pipeline of one attempt: its credits, cancellation and in-flight bookkeeping.</summary>
    sealed class PipelineRun(int attempt, JobPlan plan)
    {
        public int Attempt { get; } = attempt;
        public JobPlan Plan { get; } = plan;
        public SemaphoreSlim Credits { get; } = new(plan.Spec.Window);
        public CancellationTokenSource Stop { get; } = new();
        public Dictionary<long, int> TokensInFlight { get; } = new();
        public DateTime LastProgressUtc { get; set; } = DateTime.UtcNow;
    }

    PipelineRun? _run;
    TaskCompletionSource _resumed = CompletedGate();
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly SemaphoreSlim _writeLock = new(1, 1);
    long _tokensApplied;
    int _epoch;
    float _lastLoss = float.NaN;
    string? _sideSilo;
    JobRecord Record => state.State;
    string JobId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken token)
    {
        if (Record.State == JobState.Paused) _resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        StartWatchdog();
        return Task.CompletedTask;
    }

    public async Task<JobProgress> Start(JobSpec spec)
    {
        if (Record.State != JobState.Pending)
        {
            RecoverIfOrphaned("started again after its pipeline was lost");
            return await GetProgress();
        }
        await GrainFactory.GetGrain<IJobRegistryGrain>(0).Register(JobId);
        JobPlan plan;
        SidePosition position;
        try
        {
            plan = await JobPlan.Build(spec, GrainFactory.GetGrain<IClusterSlotsGrain>(0));
            position = await Launch(plan, attempt: 0);
        }
        catch (Exception e)
        {
            string message = Faults.Message(e);
            log.LogWarning("job {Job} rejected: {Message}", JobId, message);
            Record.Spec = spec;
            Record.State = JobState.Failed;
            Record.Message = message;
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
            await KeepAlive(true);
        }
        log.LogInformation("job {Job}: {Steps} steps over {Stages} stages ({Placement}), from step {Step}", JobId, plan.TotalSteps, plan.Stages.Count,
            string.Join(", ", plan.Stages.Select(s => $"[{s.First},{s.End}) on {s.Slot.Id}")), position.Step);
        return await GetProgress();
    }

    /// <summary>Loads the stages of <paramref name="plan"/> and (re)initializes the side trainer for <paramref name="attempt"/>.</summary>
    async Task<SidePosition> Launch(JobPlan plan, int attempt)
    {
        var spec = plan.Spec;
        var stageSpec = new StageSpec(spec.ModelDirectory, 0, 0, spec.BackboneFormat, spec.DoubleQuant, spec.Dtype);
        await Task.WhenAll(plan.Stages.Select((s, i) => GrainFactory.GetGrain<IBackboneStageGrain>(plan.StageKeys[i])
            .EnsureLoaded(stageSpec with { First = s.First, End = s.End })));
        var side = GrainFactory.GetGrain<ISideTrainerGrain>(JobId);
        var position = await side.Initialize(new SideSpec(JobId, spec, plan.TotalSteps, plan.Model.NumLayers + 1, plan.MicroBatchesPerEpoch, Record.CheckpointStep), attempt);
        _sideSilo = (await side.GetStatus()).Silo;
        foreach (var warning in position.Warnings) log.LogWarning("job {Job}: {Warning}", JobId, warning);
        return position;
    }

    /// <summary>Starts feeding attempt <paramref name="attempt"/> from the side trainer's position (synchronous: no interleaving).</summary>
    void StartPipeline(JobPlan plan, int attempt, SidePosition position)
    {
        // Steps after the checkpoint are recomputed (and their losses overwritten by step index); those up to it come
        // with the checkpoint, because a fault can drop the last reports before the checkpoint of their step.
        if (Record.Losses.Count > position.Step) Record.Losses.RemoveRange(position.Step, Record.Losses.Count - position.Step);
        for (int i = 0; i < position.Losses.Count && i < position.Step; i++) Record.SetLoss(i + 1, position.Losses[i]);
        Record.Step = position.Step;
        Record.CheckpointStep = (int)(position.CheckpointStep ?? 0);
        Record.CheckpointNextMicroBatch = position.CheckpointStep is null ? 0 : position.NextMicroBatch;
        var run = new PipelineRun(attempt, plan);
        _run = run;
        _epoch = (int)(position.NextMicroBatch / Math.Max(1, plan.MicroBatchesPerEpoch));
        if (position.Step >= plan.TotalSteps)
        {
            Complete(position.Step);
            return;
        }
        _ = Pump(run, position.NextMicroBatch);
    }

    async Task Pump(PipelineRun run, long from)
    {
        var plan = run.Plan;
        var firstStage = GrainFactory.GetGrain<IBackboneStageGrain>(plan.StageKeys[0]);
        var side = GrainFactory.GetGrain<ISideTrainerGrain>(JobId);
        var route = new PipelineRoute(JobId, plan.StageKeys, 0, run.Attempt);
        try
        {
            for (long sequence = from; sequence < plan.TotalMicroBatches; sequence++)
            {
                await run.Credits.WaitAsync(run.Stop.Token);
                await _resumed.Task.WaitAsync(run.Stop.Token);
                int epoch = (int)(sequence / plan.MicroBatchesPerEpoch);
                var batch = plan.Batches.Get(epoch, (int)(sequence % plan.MicroBatchesPerEpoch));
                long[] shape = [batch.BatchSize, batch.SequenceLength];
                var mask = TensorPayloads.From(batch.AttentionMask, shape);
                run.TokensInFlight[sequence] = batch.TokenCount;
                await side.SubmitBatch(new SideBatch(sequence, epoch, TensorPayloads.From(batch.Labels, shape), mask, batch.TokenCount, run.Attempt));
                await firstStage.Submit(new StageWork(route, sequence, TensorPayloads.From(batch.InputIds, shape), mask));
            }
        }
        catch (OperationCanceledException) when (run.Stop.IsCancellationRequested)
        {
        }
        catch (Exception e) when (Faults.IsInfrastructure(e))
        {
            TriggerRecovery(run.Attempt, $"feeding the pipeline: {Faults.Message(e)}");
        }
        catch (Exception e)
        {
            await Fail($"feeding the pipeline: {Faults.Message(e)}");
        }
    }

    public Task MicroBatchApplied(int attempt, long sequence, int step, float stepLoss, bool stepCompleted)
    {
        var run = _run;
        if (run is null || attempt != run.Attempt || Record.IsFinished) return Task.CompletedTask;   // fenced or stale
        run.Credits.Release();
        run.LastProgressUtc = DateTime.UtcNow;
        if (run.TokensInFlight.Remove(sequence, out int tokens)) _tokensApplied += tokens;
        if (!stepCompleted) return Task.CompletedTask;
        Record.SetLoss(step, stepLoss);
        Record.Step = step;
        _lastLoss = stepLoss;
        _epoch = (int)(sequence / run.Plan.MicroBatchesPerEpoch);
        OnStepAfterRecovery();
        if (step >= run.Plan.TotalSteps) Complete(step);
        return Task.CompletedTask;
    }

    void Complete(int step)
    {
        Record.State = JobState.Completed;
        Record.Message = $"completed {step} steps in {_clock.Elapsed.TotalSeconds:F1} s" + (Record.Recoveries.Count > 0 ? $" ({Record.Recoveries.Count} recoveries)" : "");
        log.LogInformation("job {Job} completed: {Steps} steps, final loss {Loss:F4}", JobId, step, _lastLoss);
        _ = Finish();
    }

    public async Task CheckpointCommitted(int attempt, int step, long nextMicroBatch)
    {
        // Any attempt's checkpoint is valid (training is deterministic); the store keeps steps monotonic. Recorded even
        // when the upload finished after the job did, so the record names the store's latest checkpoint.
        if (Record.Spec is null || step <= Record.CheckpointStep) return;
        Record.CheckpointStep = step;
        Record.CheckpointNextMicroBatch = nextMicroBatch;
        await Persist();
    }

    public async Task Fail(string message)
    {
        if (Record.IsFinished) return;
        log.LogError("job {Job} failed: {Message}", JobId, message);
        Record.State = JobState.Failed;
        Record.Message = message;
        await Finish();
    }

    /// <summary>Stops the pipeline, persists the final state and drops the keepalive reminder.</summary>
    async Task Finish()
    {
        StopPipeline();
        _resumed.TrySetResult();
        await Persist();
        await KeepAlive(false);
    }

    void StopPipeline()
    {
        if (_run is { } run) run.Stop.Cancel();
    }

    public async Task<JobProgress> GetProgress()
    {
        var progress = Snapshot();
        if (_run is not { } run) return progress;
        try
        {
            var statuses = await Task.WhenAll(run.Plan.StageKeys.Select(k => GrainFactory.GetGrain<IBackboneStageGrain>(k).GetStatus()));
            return progress with
            {
                StageUtilisation = statuses.ToDictionary(s => s.Key, s => s.AliveSeconds > 0 ? s.ComputeSeconds / s.AliveSeconds : 0),
            };
        }
        catch (Exception e)
        {
            // A stage that cannot answer (its silo is gone) must not hide the job's own progress from clients.
            log.LogWarning("job {Job}: stage status unavailable: {Message}", JobId, Faults.Message(e));
            return progress;
        }
    }

    JobProgress Snapshot() => new()
    {
        JobId = JobId,
        State = Record.State,
        Step = Record.Step,
        TotalSteps = Record.TotalSteps,
        Epoch = _epoch,
        Loss = Record.Losses.Count > 0 ? Record.Losses[^1] : float.NaN,
        TokensPerSecond = _tokensApplied / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9),
        Message = Record.Message,
        Losses = Record.Losses.ToList(),
        Placement = _run is { } run ? run.Plan.StageKeys.Select((k, i) => (k, run.Plan.Stages[i].Slot.Id)).ToDictionary(x => x.k, x => x.Item2)
            : new Dictionary<string, string>(),
        JobSilo = silo.SiloName,
        SideSilo = _sideSilo,
        Attempt = Record.Attempt,
        LastCheckpointStep = Record.CheckpointStep,
        Recoveries = Record.Recoveries.ToList(),
    };

    public async Task Pause()
    {
        if (Record.State != JobState.Running) return;
        _resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Record.State = JobState.Paused;
        await Persist();
    }

    public async Task Resume()
    {
        if (Record.IsFinished || Record.State == JobState.Pending) return;
        if (Record.State == JobState.Paused)
        {
            Record.State = JobState.Running;
            _resumed.TrySetResult();
            await Persist();
        }
        RecoverIfOrphaned("resumed by the user");
    }

    public async Task Cancel()
    {
        if (Record.IsFinished) return;
        Record.State = JobState.Cancelled;
        Record.Message = $"cancelled by the user after {Record.Step} steps";
        await Finish();
    }

    public Task Poke()
    {
        RecoverIfOrphaned("job grain re-activated (silo start or keepalive)");
        return Task.CompletedTask;
    }

    public async Task<IReadOnlyList<CheckpointInfo>> ListCheckpoints() => await CheckpointListing.List(await stores.ForJob(JobId));

    /// <summary>Writes the record; a storage error is logged, not thrown (the job goes on; the next write retries).</summary>
    async Task Persist()
    {
        await _writeLock.WaitAsync();
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception e)
        {
            log.LogWarning(e, "job {Job}: persisting the job state failed: {Message}", JobId, e.Message);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }
}
