using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using QstOrleans.Grains.Results;
using QstOrleans.Grains.Side.Evaluation;
using QstOrleans.Grains.Stages;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Grains.Side;

/// <summary>
/// One initialization of a side trainer: a <see cref="SideTrainerCore"/> for one job attempt, its inbox and the
/// dedicated worker thread that owns the core. The worker applies micro-batches in sequence order, reports each to
/// the job, and at a step boundary where a checkpoint is due (<see cref="JobSpec.CheckpointEverySteps"/> or
/// <see cref="JobSpec.CheckpointEveryMinutes"/>) saves a consistent cut into a temp folder, then hands the upload
/// to a background task, so training goes on while the checkpoint is committed. One upload at a time: a due boundary
/// reached while the previous upload still runs waits for it (back-pressure when uploads are slower than the
/// interval), so checkpoints land exactly on the configured steps. The last step is different: the job's result (the
/// export, <see cref="JobResultWriter"/>) and a final checkpoint are committed, and awaited, before the job hears of it.
/// Rolling back = <see cref="StopAsync"/> and a new session restored from the store.
/// </summary>
internal sealed class SideSession
{
    readonly SideTrainerCore _core;
    readonly CheckpointStore _store;
    readonly ITrainingJobGrain _job;
    readonly SideSpec _spec;
    readonly ILogger _log;
    readonly Channel<object> _inbox = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    readonly Stopwatch _sinceCheckpoint = Stopwatch.StartNew();
    /// <summary>Lean taps: the stages that hold W_A (null with full taps).</summary>
    readonly StageAdapterLink? _link;
    /// <summary>The job's evaluation (null when it evaluates nothing): run between optimizer steps, see <see cref="StepMetricsOf"/>.</summary>
    readonly SideEvaluation? _evaluation;
    /// <summary>Lean taps: gradient sends of the current window not yet awaited (awaited at the window end, so a failed one
    /// surfaces as this worker's fault).</summary>
    readonly List<Task<double[]?>> _sends = [];
    /// <summary>Lean taps: the final W_A was collected and the stages' copies released.</summary>
    bool _stagesReleased;
    Task _commit = Task.CompletedTask;
    int _lastCheckpointStep;
    Task _worker = Task.CompletedTask;
    /// <summary>Set by <see cref="StopAsync"/>: work still queued is dropped (a rollback or the end of the job discards it).</summary>
    volatile bool _stopping;
    /// <summary>Set by <see cref="RequestCheckpoint"/> (any thread), cleared by the checkpoint it causes.</summary>
    volatile bool _checkpointRequested;

    public SideSession(int attempt, SideTrainerCore core, SidePosition position, SideSpec spec, CheckpointStore store, ITrainingJobGrain job, ILogger log,
        StageAdapterLink? link = null, SideEvaluation? evaluation = null)
    {
        (_link, _evaluation) = (link, evaluation);
        Attempt = attempt;
        ResumedFrom = position.NextMicroBatch;
        _lastCheckpointStep = position.Step;
        (_core, _spec, _store, _job, _log) = (core, spec, store, job, log);
    }

    public int Attempt { get; }
    public long ResumedFrom { get; }
    public StageCounters Counters { get; } = new();
    public int Steps => _core.Steps;

    /// <summary>Checkpoint at the next step boundary whatever the cadence (Ctrl+C on <c>qst train --local</c>).</summary>
    public void RequestCheckpoint() => _checkpointRequested = true;

    public void Start() =>
        _worker = Task.Factory.StartNew(RunWorker, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

    public bool Post(object item) => _inbox.Writer.TryWrite(item);

    /// <summary>Stops taking work, drops what is queued, waits for the worker (its current micro-batch) and any upload in
    /// progress, releases the stages' W_A slices, frees the core. When <paramref name="cancel"/> fires first (Orleans'
    /// deactivation timeout) the worker still owns the core: it is left to it rather than freed under it.</summary>
    public async Task StopAsync(CancellationToken cancel = default)
    {
        _stopping = true;
        _inbox.Writer.TryComplete();
        try { await _worker.WaitAsync(cancel); }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            _log.LogWarning("side trainer of job {Job}: the worker did not stop in time; its state is not freed", _spec.JobId);
            return;
        }
        if (_link is not null && !_stagesReleased)
        {
            try { await _link.ReleaseAsync(); }
            catch (Exception e) { _log.LogDebug(e, "releasing the stages' W_A slices of job {Job} failed (a stage is gone?)", _spec.JobId); }
        }
        try { await _commit.WaitAsync(cancel); } catch (Exception e) { _log.LogDebug(e, "checkpoint upload ended with an error"); }
        _core.Dispose();
    }

    async Task RunWorker()
    {
        var idle = Stopwatch.StartNew();
        await foreach (var item in _inbox.Reader.ReadAllAsync())
        {
            if (_stopping)
            {
                if (item is TaskCompletionSource<IReadOnlyDictionary<string, TensorPayload>> dropped)
                    dropped.TrySetException(new InvalidOperationException($"side trainer of job '{_spec.JobId}' attempt {Attempt} is stopping"));
                continue;
            }
            try
            {
                switch (item)
                {
                    case SideBatch batch: _core.Add(batch); break;
                    case IReadOnlyList<TapChunk> chunks: foreach (var c in chunks) _core.Add(c); break;
                    case TaskCompletionSource<IReadOnlyDictionary<string, TensorPayload>> reply:
                        if (_link is not null && !_stagesReleased) await _link.CollectAsync(_core);   // the stages hold the current W_A
                        reply.TrySetResult(_core.Weights());
                        continue;
                }
                Counters.AddWait(idle.Elapsed);
                var clock = Stopwatch.StartNew();
                while (!_stopping && _core.TryAccumulateNext() is { } accumulated)
                {
                    var applied = await Complete(accumulated);
                    if (applied.Result is { Skipped: true } skip) _log.LogWarning("job {Job}: step {Step} skipped, its update not applied: non-finite loss {Loss} or gradient norm {Norm} (optimizer.non_finite = skip)", _spec.JobId, skip.Step, skip.Loss, skip.GradNorm);
                    bool last = applied.StepCompleted && applied.Step >= _spec.TotalSteps;
                    if (last && _link is not null)
                    {
                        // The last step: keep the final W_A here before the job hears of it (weights are read once it has
                        // ended), then free the stages' copies.
                        await _link.CollectAsync(_core);
                        _stagesReleased = true;
                        await _link.ReleaseAsync();
                    }
                    var metrics = applied.StepCompleted ? await StepMetricsOf(applied) : null;
                    // The result and the final checkpoint are committed before the job hears of the last step: it reads
                    // Completed only once they are in the store (a failed commit is this worker's fault: the job recovers).
                    if (last) await CommitResult(applied.Step);
                    Counters.AddCompute(clock.Elapsed);
                    Counters.CountProcessed();
                    _job.MicroBatchApplied(Attempt, applied.Sequence, applied.Step, applied.StepLoss, applied.StepCompleted, metrics).Ignore();
                    if (applied.StepCompleted && CheckpointDue(applied.Step)) await Checkpoint(applied.Step);
                    clock.Restart();
                }
            }
            catch (Exception e) when (Faults.IsDeterministic(e))
            {
                _log.LogError(e, "side trainer of job {Job} failed", _spec.JobId);
                _job.Fail($"side trainer: {e.Message}").Ignore();
            }
            catch (Exception e)
            {
                // Not bad input: a native error (out of device memory, a libtorch failure) may not repeat after a rollback to
                // the latest checkpoint, so the job recovers; one that does repeat ends the job after the bounded retries.
                _log.LogError(e, "side trainer of job {Job} failed; asking the job to recover", _spec.JobId);
                _job.ReportFault(Attempt, $"side trainer: {e.Message}").Ignore();
            }
            idle.Restart();
        }
    }

    /// <summary>
    /// Completes one micro-batch. Lean taps: G goes to the stages without waiting; at a window end the worker waits for the
    /// stages' W_A gradient norms (the global clip needs them), applies the step, and has the stages apply it too before the
    /// next window's projections can be made (they read the updated W_A).
    /// </summary>
    async Task<SideTrainerCore.Applied> Complete(SideTrainerCore.Accumulated accumulated)
    {
        if (_link is null) return _core.Finish(accumulated);
        var send = _link.SendGradients(accumulated.Sequence, accumulated.Gradients!, accumulated.WindowEnd);
        if (!accumulated.WindowEnd)
        {
            _sends.Add(send);
            return _core.Finish(accumulated);
        }
        await Task.WhenAll(_sends);
        _sends.Clear();
        var norms = await send;
        var applied = _core.Finish(accumulated, norms);
        var result = applied.Result!;
        await _link.ApplyStepAsync(result.Step, result.LearningRate, result.ClipCoefficient);
        return applied;
    }

    /// <summary>
    /// A completed step's grad norm and, when due, its evaluation: forward-only and before the next micro-batch is applied, so
    /// it sees the side network of exactly this step (lean taps: W_A collected from the stages, as for a checkpoint).
    /// </summary>
    async Task<StepMetrics> StepMetricsOf(SideTrainerCore.Applied applied)
    {
        JobEvaluation? evaluation = null;
        if (_evaluation is { } e && e.IsDue(applied.Step))
        {
            if (_link is not null && !_stagesReleased) await _link.CollectAsync(_core);
            evaluation = await e.RunAsync(_core, applied.Step);
            _log.LogInformation("job {Job}: step {Step} evaluated: val-loss {Loss}, val-ppl {Ppl}, mmlu-acc {Acc}", _spec.JobId, applied.Step,
                evaluation.ValidationLoss, evaluation.ValidationPerplexity, evaluation.MultipleChoiceAccuracy);
        }
        // A skipped step (optimizer.non_finite = skip) is reported with the step, so watching clients see it (not only this log).
        string? skipped = applied.Result is { Skipped: true } s ? (float.IsFinite(s.Loss) ? "non-finite gradient" : "non-finite loss") : null;
        return new StepMetrics(applied.Result?.GradNorm ?? double.NaN, evaluation, skipped);
    }

    bool CheckpointDue(int step)
    {
        if (step >= _spec.TotalSteps) return false;   // the last step's checkpoint is committed with the result (CommitResult)
        var job = _spec.Job;
        return _checkpointRequested || (job.CheckpointEverySteps > 0 && step - _lastCheckpointStep >= job.CheckpointEverySteps)
               || (job.CheckpointEveryMinutes > 0 && _sinceCheckpoint.Elapsed.TotalMinutes >= job.CheckpointEveryMinutes);
    }

    /// <summary>
    /// The last step: commits the job's result (the export, <see cref="JobResultWriter"/>), then the final checkpoint, and
    /// waits for both. Export first: a final checkpoint in the store means the result is there too (a job restored from it
    /// completes at once). The job records the final checkpoint like any other.
    /// </summary>
    async Task CommitResult(int step)
    {
        await _commit;   // never throws: the upload task logs its own errors
        var results = JobResultWriter.ResultsOf(_store);
        try
        {
            await JobResultWriter.CommitAsync(_core, results, step);
        }
        catch (IOException e)
        {
            // Still a fault (recovered, then failing the job with this message once the recoveries give up), but one that says what failed.
            throw new IOException($"committing the result of job '{_spec.JobId}' (step {step}) to {results.Location} failed: {e.Message}", e);
        }
        _log.LogInformation("job {Job}: result of step {Step} committed to {Location}", _spec.JobId, step, results.Location);
        string folder = Path.Combine(Path.GetTempPath(), $"qst-side-{Guid.NewGuid():N}");
        try
        {
            var clock = Stopwatch.StartNew();
            var state = _core.SaveCheckpoint(folder);   // W_A was collected above (lean taps)
            double saveSeconds = clock.Elapsed.TotalSeconds;
            try
            {
                var manifest = await _store.CommitAsync(step, CheckpointPart.FromDirectory(folder));
                // Timed like every other checkpoint (qst_checkpoint_*), so the meters count the final one too.
                Telemetry.QstMeters.CheckpointWritten(_spec.JobId, saveSeconds, clock.Elapsed.TotalSeconds - saveSeconds, manifest.TotalBytes);
            }
            catch (CheckpointConflictException e)
            {
                // An earlier attempt committed the final step already: equal by determinism.
                _log.LogInformation("job {Job}: final checkpoint {Step} not committed: {Message}", _spec.JobId, step, e.Message);
            }
            _lastCheckpointStep = step;
            _job.CheckpointCommitted(Attempt, step, state.NextMicroBatch).Ignore();
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    async Task Checkpoint(int step)
    {
        if (!_commit.IsCompleted)
        {
            _log.LogInformation("job {Job}: checkpoint at step {Step} waits for the previous upload", _spec.JobId, step);
            await _commit;   // never throws: the upload task logs its own errors
        }
        string folder = Path.Combine(Path.GetTempPath(), $"qst-side-{Guid.NewGuid():N}");
        var clock = Stopwatch.StartNew();
        if (_link is not null) await _link.CollectAsync(_core);   // W_A and its AdamW state live on the stages
        var state = _core.SaveCheckpoint(folder);   // fast and on the worker: the cut is consistent by construction
        (_lastCheckpointStep, _checkpointRequested) = (step, false);
        _sinceCheckpoint.Restart();
        double saveSeconds = clock.Elapsed.TotalSeconds;
        _commit = Task.Run(async () =>
        {
            try
            {
                var manifest = await _store.CommitAsync(step, CheckpointPart.FromDirectory(folder));
                _log.LogInformation("job {Job}: checkpoint {Step} committed to {Location} ({Bytes} bytes; save {Save:F2} s, upload {Upload:F2} s)",
                    _spec.JobId, step, _store.Location, manifest.TotalBytes, saveSeconds, clock.Elapsed.TotalSeconds - saveSeconds);
                Telemetry.QstMeters.CheckpointWritten(_spec.JobId, saveSeconds, clock.Elapsed.TotalSeconds - saveSeconds, manifest.TotalBytes);
                _job.CheckpointCommitted(Attempt, step, state.NextMicroBatch).Ignore();
            }
            catch (CheckpointConflictException e)
            {
                // An earlier attempt committed this step already (or a newer one): the store keeps the first, equal by determinism.
                _log.LogInformation("job {Job}: checkpoint {Step} not committed: {Message}", _spec.JobId, step, e.Message);
            }
            catch (Exception e)
            {
                _log.LogWarning(e, "job {Job}: checkpoint {Step} could not be committed to {Location}; training goes on", _spec.JobId, step, _store.Location);
            }
            finally
            {
                try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
            }
        });
    }
}
