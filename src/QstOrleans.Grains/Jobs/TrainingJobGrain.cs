using System.Diagnostics;
using Microsoft.Extensions.Logging;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;
using QstOrleans.Grains.Stages;
using QstOrleans.Grains.Transport;

namespace QstOrleans.Grains.Jobs;

/// <summary>
/// Runs one training job: validates and plans it (<see cref="JobPlan"/>), loads the stages and the side
/// trainer, then pumps micro-batches through the pipeline with at most <see cref="JobSpec.Window"/> in
/// flight (a credit is returned when the side trainer applies a micro-batch). The pipeline never drains
/// between optimizer steps: the backbone is frozen, so micro-batch m+1 can run while m is being applied.
/// </summary>
public sealed class TrainingJobGrain(ILogger<TrainingJobGrain> log) : Grain, ITrainingJobGrain
{
    JobPlan? _plan;
    JobProgress _progress = null!;
    SemaphoreSlim? _credits;
    TaskCompletionSource _resumed = CompletedGate();
    readonly CancellationTokenSource _stop = new();
    readonly SortedDictionary<int, float> _losses = new();
    readonly Dictionary<long, int> _tokensInFlight = new();
    readonly Stopwatch _clock = new();
    long _tokensApplied;
    Task? _pump;
    string JobId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken token)
    {
        _progress = new JobProgress { JobId = JobId, State = JobState.Pending };
        return Task.CompletedTask;
    }

    public async Task<JobProgress> Start(JobSpec spec)
    {
        if (_progress.State != JobState.Pending) return _progress;
        await GrainFactory.GetGrain<IJobRegistryGrain>(0).Register(JobId);
        try
        {
            _plan = await JobPlan.Build(spec, GrainFactory.GetGrain<IClusterSlotsGrain>(0));
            var stageSpec = new StageSpec(spec.ModelDirectory, 0, 0, spec.BackboneFormat, spec.DoubleQuant, spec.Dtype);
            await Task.WhenAll(_plan.Stages.Select((s, i) => GrainFactory.GetGrain<IBackboneStageGrain>(_plan.StageKeys[i])
                .EnsureLoaded(stageSpec with { First = s.First, End = s.End })));
            await GrainFactory.GetGrain<ISideTrainerGrain>(JobId).Initialize(new SideSpec(JobId, spec, _plan.TotalSteps, _plan.Model.NumLayers + 1));
        }
        catch (Exception e)
        {
            string message = Unwrap(e);
            log.LogWarning("job {Job} rejected: {Message}", JobId, message);
            _progress = _progress with { State = JobState.Failed, Message = message };
            return _progress;
        }
        _progress = _progress with
        {
            State = JobState.Running,
            TotalSteps = _plan.TotalSteps,
            Message = $"data: {_plan.Batches.Summary}",
            Placement = _plan.StageKeys.Select((k, i) => (k, _plan.Stages[i].Slot.Id)).ToDictionary(x => x.k, x => x.Item2),
        };
        _credits = new SemaphoreSlim(spec.Window);
        _clock.Start();
        _pump = Pump(_plan, _stop.Token);
        log.LogInformation("job {Job}: {Steps} steps over {Stages} stages ({Placement})", JobId, _plan.TotalSteps, _plan.Stages.Count,
            string.Join(", ", _plan.Stages.Select(s => $"[{s.First},{s.End}) on {s.Slot.Id}")));
        return _progress;
    }

    async Task Pump(JobPlan plan, CancellationToken stop)
    {
        var firstStage = GrainFactory.GetGrain<IBackboneStageGrain>(plan.StageKeys[0]);
        var side = GrainFactory.GetGrain<ISideTrainerGrain>(JobId);
        var route = new PipelineRoute(JobId, plan.StageKeys, 0);
        try
        {
            for (long sequence = 0; sequence < plan.TotalMicroBatches; sequence++)
            {
                await _credits!.WaitAsync(stop);
                await _resumed.Task.WaitAsync(stop);
                int epoch = (int)(sequence / plan.MicroBatchesPerEpoch);
                var batch = plan.Batches.Get(epoch, (int)(sequence % plan.MicroBatchesPerEpoch));
                long[] shape = [batch.BatchSize, batch.SequenceLength];
                var mask = TensorPayloads.From(batch.AttentionMask, shape);
                _tokensInFlight[sequence] = batch.TokenCount;
                await side.SubmitBatch(new SideBatch(sequence, epoch, TensorPayloads.From(batch.Labels, shape), mask, batch.TokenCount));
                await firstStage.Submit(new StageWork(route, sequence, TensorPayloads.From(batch.InputIds, shape), mask));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            await Fail($"feeding the pipeline: {Unwrap(e)}");
        }
    }

    public Task MicroBatchApplied(long sequence, int step, float stepLoss, bool stepCompleted)
    {
        if (_plan is null || _progress.IsFinished) return Task.CompletedTask;
        _credits?.Release();
        if (_tokensInFlight.Remove(sequence, out int tokens)) _tokensApplied += tokens;
        if (!stepCompleted) return Task.CompletedTask;
        _losses[step] = stepLoss;
        int epoch = (int)(sequence / _plan.MicroBatchesPerEpoch);
        bool done = step >= _plan.TotalSteps;
        _progress = _progress with
        {
            Step = Math.Max(_progress.Step, step),
            Epoch = epoch,
            Loss = stepLoss,
            Losses = _losses.Values.ToList(),
            TokensPerSecond = _tokensApplied / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9),
            State = done ? JobState.Completed : _progress.State,
            Message = done ? $"completed {step} steps in {_clock.Elapsed.TotalSeconds:F1} s" : _progress.Message,
        };
        if (done) log.LogInformation("job {Job} completed: {Steps} steps, final loss {Loss:F4}", JobId, step, stepLoss);
        return Task.CompletedTask;
    }

    public Task Fail(string message)
    {
        if (_progress.IsFinished) return Task.CompletedTask;
        log.LogError("job {Job} failed: {Message}", JobId, message);
        _progress = _progress with { State = JobState.Failed, Message = message };
        _stop.Cancel();
        return Task.CompletedTask;
    }

    public async Task<JobProgress> GetProgress()
    {
        if (_plan is null) return _progress;
        try
        {
            var statuses = await Task.WhenAll(_plan.StageKeys.Select(k => GrainFactory.GetGrain<IBackboneStageGrain>(k).GetStatus()));
            return _progress with
            {
                StageUtilisation = statuses.ToDictionary(s => s.Key, s => s.AliveSeconds > 0 ? s.ComputeSeconds / s.AliveSeconds : 0),
            };
        }
        catch (Exception e)
        {
            // A stage that cannot answer (its silo is gone) must not hide the job's own progress from clients.
            log.LogWarning("job {Job}: stage status unavailable: {Message}", JobId, Unwrap(e));
            return _progress;
        }
    }

    public Task Pause()
    {
        if (_progress.State != JobState.Running) return Task.CompletedTask;
        _resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _progress = _progress with { State = JobState.Paused };
        return Task.CompletedTask;
    }

    public Task Resume()
    {
        if (_progress.State != JobState.Paused) return Task.CompletedTask;
        _progress = _progress with { State = JobState.Running };
        _resumed.TrySetResult();
        return Task.CompletedTask;
    }

    public Task Cancel()
    {
        if (_progress.IsFinished) return Task.CompletedTask;
        _progress = _progress with { State = JobState.Cancelled, Message = $"cancelled by the user after {_progress.Step} steps" };
        _stop.Cancel();
        _resumed.TrySetResult();
        return Task.CompletedTask;
    }

    static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    static string Unwrap(Exception e)
    {
        while (e is AggregateException { InnerException: not null } a) e = a.InnerException;
        return e.Message;
    }
}
