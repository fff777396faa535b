using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using QstOrleans.Grains.Side;
using QstOrleans.Grains.Transport;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using static TorchSharp.torch;

namespace QstOrleans.Grains.Stages;

/// <summary>
/// One job attempt's lean taps on one stage: the W_A slices of the stage's layers (<see cref="StageAdapters"/>) and the
/// micro-batches between their forward pass and their gradient. Everything runs on one worker, in the order commands arrive:
/// <code>
/// Forwarded(s, x)   the backbone worker is done with micro-batch s; x = its taps [B, T, H] in the compute dtype.
///                   s reads W_A version v(s) = s / accumulation. v(s) == Version: project U = W_A·x now and send it to
///                   the side trainer; v(s) &gt; Version: keep x until the update arrives (the backbone runs ahead, the
///                   pipeline never drains; the job's window bounds how many wait).
/// Gradients(s, G)   ∂L/∂U from the side trainer, applied strictly in sequence order (U.backward(G): W_A.grad += Gᵀ·x);
///                   at a window end the reply is Σ g² of each W_A gradient.
/// Step(k, lr, c)    update k: gradients × c, AdamW(lr), Version = k; then project the micro-batches that waited for it.
/// Export            the slices and their AdamW state (checkpoints, final weights).
/// </code>
/// The single-process trainer runs the same projection, backward and AdamW code in the same order, so results are bitwise equal.
/// </summary>
internal sealed class StageLeanTaps
{
    readonly StageAdapters _adapters;
    readonly StageAdapterState _state;
    readonly Device _device;
    readonly ISideTrainerGrain _side;
    readonly int _maxChunkBytes;
    readonly Action<Exception> _fault;
    readonly StageCounters _counters;
    readonly ILogger _log;
    readonly Channel<Func<Task>> _inbox = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });
    readonly SortedDictionary<long, List<(int Tap, Tensor X)>> _waiting = new();          // x [B, T, H] until W_A version v(s)
    readonly Dictionary<long, List<(int Tap, Tensor U)>> _projected = new();            // U [B, T, p] with graph, until G
    readonly Dictionary<long, (TapGradients Gradients, TaskCompletionSource<double[]?> Done)> _gradients = new();
    long _nextGradient;
    readonly Task _worker;
    /// <summary>The silo stops: sends to the side trainer are no longer awaited (it may be deactivating on the same silo).</summary>
    readonly CancellationToken _stop;

    /// <param name="fault">Called with an error of work nobody awaits (a failed send): the grain reports it to the job.</param>
    /// <param name="stop">Cancelled when the silo stops (<see cref="Hosting.SiloStopping"/>).</param>
    public StageLeanTaps(StageAdapterState state, Device device, ISideTrainerGrain side, int maxChunkBytes, Action<Exception> fault,
        StageCounters counters, ILogger log, CancellationToken stop = default)
    {
        using (NewDisposeScope())
        {
            var slices = state.Slices.Select(StageAdapterLink.FromWire).ToList();
            _adapters = new StageAdapters(slices, state.Beta1, state.Beta2, state.Epsilon, state.WeightDecay,
                Precision.Parse(state.ComputeDtype).Compute, state.Version, device);
        }
        (_state, _device, _side, _maxChunkBytes, _fault, _counters, _log, _stop) = (state, device, side, maxChunkBytes, fault, counters, log, stop);
        _nextGradient = (long)state.Version * state.Accumulation;
        _worker = Task.Factory.StartNew(RunWorker, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    public int Attempt => _state.Attempt;
    public ScalarType Compute => Precision.Parse(_state.ComputeDtype).Compute;

    /// <summary>Hands over micro-batch <paramref name="sequence"/>'s taps (tensors detached from any dispose scope; this takes them).</summary>
    public void Forwarded(long sequence, List<(int Tap, Tensor X)> taps) => Post(async () =>
    {
        long version = sequence / _state.Accumulation;
        if (version < _adapters.Version)
            throw new InvalidOperationException($"micro-batch {sequence} needs W_A version {version}, but the stage is at {_adapters.Version} already");
        if (version == _adapters.Version) await ProjectAndSend(sequence, taps);
        else _waiting[sequence] = taps;
    }, fault: true);

    public Task<double[]?> Gradients(TapGradients gradients)
    {
        var done = new TaskCompletionSource<double[]?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            if (gradients.Sequence >= _nextGradient) _gradients[gradients.Sequence] = (gradients, done);
            else done.TrySetResult(null);   // a duplicate of one already applied
            ApplyGradientsInOrder();
            return Task.CompletedTask;
        }, done);
        return done.Task;
    }

    public Task Step(AdapterStep step)
    {
        var done = new TaskCompletionSource<double[]?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(async () =>
        {
            if (step.Step != _adapters.Version + 1)
                throw new InvalidOperationException($"step {step.Step} arrived while W_A is at version {_adapters.Version}");
            if (_nextGradient != (long)step.Step * _state.Accumulation)
                throw new InvalidOperationException($"step {step.Step} arrived before the gradients of micro-batches {_nextGradient}..{(long)step.Step * _state.Accumulation - 1}");
            _adapters.Apply(step.LearningRate, step.ClipCoefficient);
            done.TrySetResult(null);
            // The micro-batches that waited for this version, in sequence order (a failure here is nobody's reply: the job's).
            try
            {
                foreach (var sequence in _waiting.Keys.Where(s => s / _state.Accumulation == _adapters.Version).ToList())
                {
                    _waiting.Remove(sequence, out var taps);
                    await ProjectAndSend(sequence, taps!);
                }
            }
            catch (Exception e) { _fault(e); }
        }, done);
        return done.Task;
    }

    public Task<StageAdapterState> Export()
    {
        var done = new TaskCompletionSource<StageAdapterState>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            using var scope = NewDisposeScope();
            done.TrySetResult(_state with { Version = _adapters.Version, Slices = _adapters.Export().Select(StageAdapterLink.ToWire).ToList() });
            return Task.CompletedTask;
        }, done);
        return done.Task;
    }

    /// <summary>Stops the worker and frees the slices and every kept tensor. When <paramref name="cancel"/> fires first (Orleans'
    /// deactivation timeout) the worker still runs a command: its tensors are left to it rather than freed under it.</summary>
    public async Task StopAsync(CancellationToken cancel = default)
    {
        _inbox.Writer.TryComplete();
        try { await _worker.WaitAsync(cancel); }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            _log.LogWarning("lean taps of job {Job}: the worker did not stop in time; its tensors are not freed", _state.JobId);
            return;
        }
        foreach (var t in _waiting.Values.SelectMany(l => l)) t.X.Dispose();
        foreach (var t in _projected.Values.SelectMany(l => l)) t.U.Dispose();
        foreach (var (_, done) in _gradients.Values) done.TrySetCanceled();
        _waiting.Clear();
        _projected.Clear();
        _adapters.Dispose();
    }

    async Task ProjectAndSend(long sequence, List<(int Tap, Tensor X)> taps)
    {
        var chunks = new List<TapChunk>();
        var projected = new List<(int, Tensor)>(taps.Count);
        using (NewDisposeScope())
        {
            foreach (var (tap, x) in taps)
            {
                var u = _adapters.Project(tap, x);                                       // [B, T, p], graph W_A → U
                chunks.AddRange(TapChunks.Split(sequence, tap, TensorPayloads.From(u.detach()), _maxChunkBytes, _state.Attempt));
                projected.Add((tap, u.DetachFromDisposeScope()));
                x.Dispose();   // the graph keeps what backward needs of x
            }
        }
        _projected[sequence] = projected;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var message in TapChunks.Batch(chunks, _maxChunkBytes)) await _side.SubmitTaps(message).WaitAsync(_stop);
        _counters.AddSend(clock.Elapsed, chunks.Sum(c => (long)c.Data.Length));
    }

    void ApplyGradientsInOrder()
    {
        while (_gradients.Remove(_nextGradient, out var entry))
        {
            if (!_projected.Remove(_nextGradient, out var projected))
                throw new InvalidOperationException($"gradients of micro-batch {_nextGradient} arrived before its projections");
            try
            {
                using var scope = NewDisposeScope();
                // Tap order, as the single-process trainer: adapter 0's two taps add their parts in the same order.
                foreach (var (tap, u) in projected)
                {
                    int index = IndexOf(entry.Gradients.Taps, tap, entry.Gradients.Sequence);
                    var g = TensorPayloads.ToTensor(entry.Gradients.Gradients[index]).to(_device);   // [B, T, p]
                    AdapterProjection.Backward(u, g);
                }
            }
            catch (Exception e)
            {
                entry.Done.TrySetException(e);
                throw;
            }
            finally
            {
                foreach (var (_, u) in projected) u.Dispose();
            }
            _nextGradient++;
            entry.Done.TrySetResult(entry.Gradients.WindowEnd ? _adapters.SquaredGradNorms() : null);
        }
    }

    static int IndexOf(IReadOnlyList<int> taps, int tap, long sequence)
    {
        for (int i = 0; i < taps.Count; i++) if (taps[i] == tap) return i;
        throw new InvalidOperationException($"the gradients of micro-batch {sequence} lack tap {tap}");
    }

    /// <summary>Queues a command whose caller awaits <paramref name="done"/>: a failure goes to that caller.</summary>
    void Post<T>(Func<Task> command, TaskCompletionSource<T> done) => Enqueue(command, e => done.TrySetException(e));

    /// <summary>Queues a command nobody awaits: a failure goes to the job (<see cref="_fault"/>).</summary>
    void Post(Func<Task> command, bool fault) => Enqueue(command, _fault);

    void Enqueue(Func<Task> command, Action<Exception> failed)
    {
        bool queued = _inbox.Writer.TryWrite(async () =>
        {
            try { await command(); }
            catch (Exception e) { failed(e); }
        });
        if (!queued) failed(new InvalidOperationException($"the lean taps of job '{_state.JobId}' attempt {_state.Attempt} are stopped"));
    }

    async Task RunWorker()
    {
        await foreach (var command in _inbox.Reader.ReadAllAsync())
        {
            try { await command(); }
            catch (Exception e) { _log.LogError(e, "lean taps of job {Job}: a command failed", _state.JobId); }
        }
    }
}
