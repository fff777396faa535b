using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Placement;
using QstOrleans.Grains.Transport;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Quantization;
using static TorchSharp.torch;

namespace QstOrleans.Grains.Stages;

/// <summary>
/// A backbone stage on its device slot. Loads its layers on first use (quantizing while loading), then a
/// dedicated worker thread takes micro-batches from a bounded queue, runs them forward under no_grad (one
/// dispose scope each), sends the hidden state to the next stage and the taps to the job's side trainer.
/// The worker never calls back into this grain, and Submit only waits for queue space, so the call graph
/// is a DAG (job → stages → side trainer → job) and cannot deadlock.
/// Fault tolerance: work of an older attempt of its job than the newest seen is dropped (fencing); work arriving
/// before the layers are loaded (this activation replaced one whose silo died) and sends that fail for an
/// infrastructure reason are reported to the job as faults, so it recovers; other errors fail the job.
/// Graceful silo stop (<see cref="SiloStopping"/>): a Submit waiting for queue space and the worker's pending sends are
/// dropped at once (a send may wait on a grain of the same stopping silo, which deactivates only after this one); the job
/// hears of it as a fault and replays the dropped micro-batches from its checkpoint on the silos that stay.
/// </summary>
[DeviceSlotPlacement]
public sealed class BackboneStageGrain(QstSiloOptions silo, SiloStopping stopping, ILogger<BackboneStageGrain> log) : Grain, IBackboneStageGrain
{
    readonly StageCounters _counters = new();
    /// <summary>Newest attempt seen per job (the grain is shared by every job on the same model and split).</summary>
    readonly ConcurrentDictionary<string, int> _attempts = new();
    /// <summary>Lean taps: each job's W_A slices of this stage's layers and its micro-batches between forward and gradient.</summary>
    readonly ConcurrentDictionary<string, StageLeanTaps> _lean = new();
    /// <summary>Sends of earlier micro-batches still in flight (the worker computes the next one meanwhile; bounded).</summary>
    readonly Queue<Task> _sends = new();
    /// <summary>Held while the layers run forward (the worker's micro-batches and evaluation passes, <see cref="StageForwardOnly"/>).</summary>
    readonly object _forwardGate = new();
    Channel<StageWork>? _queue;
    BackboneStage? _stage;
    TorchSharp.torch.Device _device = TorchSharp.torch.CPU;
    StageSpec? _spec;
    Task? _worker;
    string Key => this.GetPrimaryKeyString();

    public async Task<StageStatus> EnsureLoaded(StageSpec spec)
    {
        if (_stage is not null)
        {
            if (_spec != spec) throw new ArgumentException($"stage '{Key}' is loaded with {_spec} and cannot serve {spec}");
            return Status();
        }
        var key = StageKey.Parse(Key);
        if (key.First != spec.First || key.End != spec.End)
            throw new ArgumentException($"stage '{Key}' owns layers [{key.First}, {key.End}), not [{spec.First}, {spec.End})");
        var clock = Stopwatch.StartNew();
        // The slot decides the device: cpu:N slots compute on the CPU, cuda:N slots on that GPU (a silo without
        // TorchSharp's CUDA libraries refuses such a slot here, naming it, and the job fails with that reason).
        var device = QstOrleans.Model.Devices.ComputeDevice.Parse(key.SlotId[(key.SlotId.LastIndexOf('/') + 1)..], $"device slot {key.SlotId}");
        _device = device;
        string model = await ServiceProvider.GetRequiredService<Inputs.StoredModels>().LocalizeAsync(spec.ModelDirectory);   // store: URI → this silo's copy
        _stage = await Task.Run(() =>
        {
            var config = ModelConfig.Load(model);
            return BackboneLoader.LoadStage(model, config, spec.First, spec.End,
                SpecMapping.Backbone(spec) with { Device = device });
        });
        _spec = spec;
        Telemetry.WorkerGauges.Track(_counters, "stage", Key, silo.SiloName, () => _queue?.Reader.Count ?? 0);
        ApplyCachePolicy(_stage, spec, key.SlotId);
        log.LogInformation("stage {Key} loaded layers [{First}, {End}) of {Model} in {Seconds:F1} s on slot {Slot}",
            Key, spec.First, spec.End, spec.ModelDirectory, clock.Elapsed.TotalSeconds, key.SlotId);
        _queue = Channel.CreateBounded<StageWork>(new BoundedChannelOptions(silo.StageQueueCapacity) { SingleReader = true });
        var factory = GrainFactory;
        var stage = _stage;
        var queue = _queue;
        _worker = Task.Factory.StartNew(() => RunWorker(stage, queue.Reader, factory), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        return Status();
    }

    /// <summary>
    /// Caches dequantized NF4 weights where the slot's memory allows (see <see cref="Nf4CachePolicy"/>).
    /// Micro-batch shapes are unknown at load time, so a quarter of the slot is kept for activations.
    /// </summary>
    void ApplyCachePolicy(BackboneStage stage, StageSpec spec, string slotId)
    {
        var slot = silo.Slots.FirstOrDefault(s => $"{silo.SiloName}/{s.Device}" == slotId);
        if (slot is null || !string.Equals(spec.BackboneFormat, "nf4", StringComparison.OrdinalIgnoreCase)) return;
        long slotBytes = (long)(slot.MemoryGiB * (1L << 30));
        var plan = Nf4CachePolicy.ApplyToModule(stage, slotBytes, slotBytes / 4, SpecMapping.Backbone(spec).Compute.Compute);
        log.LogInformation("stage {Key}: {Reason}", Key, plan.Reason);
    }

    public async Task Submit(StageWork work)
    {
        if (IsStale(work)) return;
        var job = GrainFactory.GetGrain<ITrainingJobGrain>(work.Route.JobId);
        if (_queue is null)
        {
            job.ReportFault(work.Route.Attempt, $"stage '{Key}' on silo {silo.SiloName} has no layers loaded (re-activated after a silo failure?)").Ignore();
            return;
        }
        try
        {
            // Waiting for queue space ends when the silo stops: Orleans deactivates this grain only once no call is running.
            await _queue.Writer.WriteAsync(work, stopping.Token);
        }
        catch (OperationCanceledException) when (stopping.IsStopping)
        {
            job.ReportFault(work.Route.Attempt, $"stage '{Key}': silo {silo.SiloName} is stopping; micro-batch {work.Sequence} dropped").Ignore();
        }
    }

    /// <summary>True for work of an older attempt than the newest this stage has seen for the job.</summary>
    bool IsStale(StageWork work)
    {
        int newest = _attempts.AddOrUpdate(work.Route.JobId, work.Route.Attempt, (_, seen) => Math.Max(seen, work.Route.Attempt));
        return work.Route.Attempt < newest;
    }

    // ---- lean taps (see StageLeanTaps) ----

    public async Task InitializeAdapters(StageAdapterState state)
    {
        var key = StageKey.Parse(Key);
        var held = state.Slices.Select(x => x.Adapter).Order().ToList();
        if (!held.SequenceEqual(Enumerable.Range(key.First, key.End - key.First)))
            throw new ArgumentException($"stage '{Key}' owns adapters {key.First}..{key.End - 1}, got slices of {string.Join(", ", held)}");
        var side = GrainFactory.GetGrain<ISideTrainerGrain>(state.JobId);
        var job = GrainFactory.GetGrain<ITrainingJobGrain>(state.JobId);
        int attempt = state.Attempt;
        var lean = new StageLeanTaps(state, _device, side, silo.MaxChunkBytes, e => ReportWorkerError(job, attempt, $"lean taps of job {state.JobId}", e), _counters, log,
            stopping.Token);
        _attempts.AddOrUpdate(state.JobId, attempt, (_, seen) => Math.Max(seen, attempt));
        StageLeanTaps? old = null;
        _lean.AddOrUpdate(state.JobId, lean, (_, existing) =>
        {
            old = existing;
            return lean;
        });
        if (old is not null) await old.StopAsync();
    }

    public Task<double[]?> SubmitTapGradients(TapGradients gradients) => Lean(gradients.JobId, gradients.Attempt).Gradients(gradients);

    public Task ApplyAdapterStep(AdapterStep step) => Lean(step.JobId, step.Attempt).Step(step);

    public Task<StageAdapterState> ExportAdapters(string jobId, int attempt) => Lean(jobId, attempt).Export();

    public async Task ReleaseAdapters(string jobId, int attempt)
    {
        if (_lean.TryGetValue(jobId, out var lean) && lean.Attempt <= attempt && _lean.TryRemove(new KeyValuePair<string, StageLeanTaps>(jobId, lean)))
            await lean.StopAsync();
    }

    /// <summary>The lean taps of a job attempt; throws when this activation does not hold them (re-activated after its silo
    /// died, or another attempt took over), so the side trainer's call fails and the job recovers.</summary>
    StageLeanTaps Lean(string jobId, int attempt) =>
        _lean.TryGetValue(jobId, out var lean) && lean.Attempt == attempt ? lean
            : throw new InvalidOperationException($"stage '{Key}' on silo {silo.SiloName} holds no W_A slices of job '{jobId}' attempt {attempt} " +
                                                  "(re-activated after a silo failure, or a newer attempt took over)");

    public Task<StageForwardResult> ForwardOnly(StageForwardRequest request)
    {
        var stage = _stage ?? throw new InvalidOperationException(
            $"stage '{Key}' on silo {silo.SiloName} has no layers loaded (re-activated after a silo failure?): job '{request.JobId}' attempt {request.Attempt} cannot evaluate");
        var device = _device;
        return Task.Run(() => StageForwardOnly.Run(stage, device, _forwardGate, request));
    }

    public Task<StageStatus> GetStatus() => Task.FromResult(Status());

    StageStatus Status() => new(Key, StageKey.SlotOf(Key) ?? "", silo.SiloName, _counters.Processed, _counters.ComputeSeconds,
        _counters.SendSeconds, _counters.WaitSeconds, _counters.AliveSeconds, _counters.BytesSent);

    /// <summary>Lets the worker drain its queue (at most 10 s or Orleans' deactivation timeout; a stopping silo has cancelled
    /// its sends already) and frees the layers once it is done; the lean taps likewise.</summary>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken token)
    {
        _queue?.Writer.TryComplete();
        // The worker may be in the middle of a forward pass: let it finish before the layers are freed.
        if (_worker is not null) await Task.WhenAny(_worker, Task.Delay(TimeSpan.FromSeconds(10), token));
        if (_worker is null || _worker.IsCompleted) _stage?.Dispose();
        foreach (var lean in _lean.Values) await lean.StopAsync(token);
        _lean.Clear();
    }

    async Task RunWorker(BackboneStage stage, ChannelReader<StageWork> queue, IGrainFactory grains)
    {
        try
        {
            await Drain(stage, queue, grains, stopping.Token);
        }
        catch (OperationCanceledException) when (stopping.IsStopping)
        {
            // The silo stops: queued micro-batches and unanswered sends are dropped (their job replays them from its checkpoint).
            log.LogInformation("stage {Key}: silo {Silo} is stopping; {Queued} queued micro-batch(es) dropped", Key, silo.SiloName, queue.Count);
        }
    }

    async Task Drain(BackboneStage stage, ChannelReader<StageWork> queue, IGrainFactory grains, CancellationToken stop)
    {
        var idle = Stopwatch.StartNew();
        await foreach (var work in queue.ReadAllAsync(stop))
        {
            _counters.AddWait(idle.Elapsed);
            if (IsStale(work)) continue;   // its job recovered while it waited in the queue
            var job = grains.GetGrain<ITrainingJobGrain>(work.Route.JobId);
            try
            {
                var send = Process(stage, work, grains);
                // Send while computing the next micro-batch; at most StageSendsInFlight sends outstanding (bounded memory).
                _sends.Enqueue(ObserveSend(send, job, work));
                while (_sends.Count > Math.Max(1, silo.StageSendsInFlight)) await _sends.Dequeue().WaitAsync(stop);
            }
            catch (Exception e)
            {
                ReportWorkerError(job, work.Route.Attempt, $"stage {Key} on micro-batch {work.Sequence} of job {work.Route.JobId}", e);
            }
            idle.Restart();
        }
        while (_sends.Count > 0) await _sends.Dequeue().WaitAsync(stop);
    }

    async Task ObserveSend(Task send, ITrainingJobGrain job, StageWork work)
    {
        try { await send; }
        catch (Exception e) { ReportWorkerError(job, work.Route.Attempt, $"stage {Key}: sending micro-batch {work.Sequence} of job {work.Route.JobId}", e); }
    }

    /// <summary>Infrastructure errors and native failures make the job recover (they may pass after a rollback; the job
    /// bounds the retries); deterministic ones (bad input) fail it.</summary>
    void ReportWorkerError(ITrainingJobGrain job, int attempt, string what, Exception e)
    {
        if (e is OperationCanceledException && stopping.IsStopping)
        {
            log.LogInformation("{What} dropped: silo {Silo} is stopping", what, silo.SiloName);
            job.ReportFault(attempt, $"{what}: silo {silo.SiloName} is stopping").Ignore();
        }
        else if (Faults.IsInfrastructure(e))
        {
            log.LogWarning("{What} failed: {Message}", what, e.Message);
            job.ReportFault(attempt, $"{what}: {Faults.Message(e)}").Ignore();
        }
        else if (Faults.IsDeterministic(e))
        {
            log.LogError(e, "{What} failed", what);
            job.Fail($"{what}: {e.Message}").Ignore();
        }
        else
        {
            log.LogError(e, "{What} failed; asking the job to recover", what);
            job.ReportFault(attempt, $"{what}: {e.Message}").Ignore();
        }
    }

    /// <summary>Runs micro-batch <paramref name="work"/> forward (synchronously, on the worker) and returns its sends:
    /// the next stage's input, and the taps (full) or ĥ (lean; the projections go through <see cref="StageLeanTaps"/>).</summary>
    Task Process(BackboneStage stage, StageWork work, IGrainFactory grains)
    {
        var clock = Stopwatch.StartNew();
        StageWork? next = null;
        var chunks = new List<TapChunk>();
        StageLeanTaps? lean = null;
        if (work.Route.LeanTaps) lean = Lean(work.Route.JobId, work.Route.Attempt);
        lock (_forwardGate)
        using (NewDisposeScope())
        using (no_grad())
        {
            var input = TensorPayloads.ToTensor(work.Input).to(_device);
            var mask = TensorPayloads.ToTensor(work.AttentionMask).to(_device);
            using var context = AttentionContext.Create(mask);
            using var output = stage.Forward(input, context);
            // Global tap index: 0 = embedding output, l + 1 = output of layer l.
            int firstTap = stage.IsFirst ? 0 : stage.First + 1;
            TensorPayload? last = null;
            if (lean is not null)
            {
                // Lean: keep each tap in the compute dtype (what W_A multiplies) for the projection; U goes out from there.
                var kept = output.Taps.Select((x, i) => (firstTap + i, x.to(lean.Compute).detach().DetachFromDisposeScope())).ToList();
                lean.Forwarded(work.Sequence, kept);
                if (output.FinalNormed is not null)   // ĥ crosses in the compute dtype (bf16: half the bytes)
                    chunks.AddRange(TapChunks.Split(work.Sequence, TapChunk.FinalNormed, TensorPayloads.From(output.FinalNormed.to(lean.Compute)),
                        silo.MaxChunkBytes, work.Route.Attempt));
                if (!work.Route.IsLast) last = TensorPayloads.From(output.Taps[^1]);
            }
            else
            {
                // The last tap is also the next stage's input: serialize it once and send the same bytes to both.
                var taps = output.Taps.Select(TensorPayloads.From).ToList();
                for (int i = 0; i < taps.Count; i++)
                    chunks.AddRange(TapChunks.Split(work.Sequence, firstTap + i, taps[i], silo.MaxChunkBytes, work.Route.Attempt));
                if (output.FinalNormed is not null)
                    chunks.AddRange(TapChunks.Split(work.Sequence, TapChunk.FinalNormed, TensorPayloads.From(output.FinalNormed), silo.MaxChunkBytes, work.Route.Attempt));
                last = taps[^1];
            }
            if (!work.Route.IsLast)
                next = new StageWork(work.Route.Next(), work.Sequence, last!, work.AttentionMask);
        }
        _counters.AddCompute(clock.Elapsed);
        _counters.CountProcessed();
        return Send(chunks, next, work, grains);
    }

    async Task Send(List<TapChunk> chunks, StageWork? next, StageWork work, IGrainFactory grains)
    {
        var clock = Stopwatch.StartNew();
        long bytes = 0;
        var side = grains.GetGrain<ISideTrainerGrain>(work.Route.JobId);
        foreach (var message in TapChunks.Batch(chunks, silo.MaxChunkBytes))
        {
            await side.SubmitTaps(message);
            bytes += message.Sum(c => (long)c.Data.Length);
        }
        if (next is not null)
        {
            await grains.GetGrain<IBackboneStageGrain>(next.Route.StageKeys[next.Route.StageIndex]).Submit(next);
            bytes += next.Input.Data.Length;
        }
        _counters.AddSend(clock.Elapsed, bytes);
    }
}
