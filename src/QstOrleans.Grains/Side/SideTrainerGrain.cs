using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Stages;

namespace QstOrleans.Grains.Side;

/// <summary>
/// The side network of one job (key = job id). Taps and labels go into an inbox; a dedicated worker
/// thread feeds them to <see cref="SideTrainerCore"/>, which applies micro-batches in sequence order, and
/// reports each one to the job. Memory stays bounded because the job keeps at most its window in flight.
/// </summary>
public sealed class SideTrainerGrain(QstSiloOptions silo, ILogger<SideTrainerGrain> log) : Grain, ISideTrainerGrain
{
    readonly StageCounters _counters = new();
    readonly Channel<object> _inbox = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    SideTrainerCore? _core;
    bool _shutDown;
    Task? _worker;
    string JobId => this.GetPrimaryKeyString();

    public async Task Initialize(SideSpec spec)
    {
        if (_core is not null) return;
        _core = await Task.Run(() => new SideTrainerCore(spec));
        var core = _core;
        var job = GrainFactory.GetGrain<ITrainingJobGrain>(JobId);
        _worker = Task.Factory.StartNew(() => RunWorker(core, job), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        log.LogInformation("side trainer of job {Job} ready on silo {Silo}", JobId, silo.SiloName);
    }

    public Task SubmitBatch(SideBatch batch) => Enqueue(batch);

    public Task SubmitTaps(IReadOnlyList<TapChunk> chunks) => Enqueue(chunks);

    Task Enqueue(object item)
    {
        if (_core is null && !_shutDown) throw new InvalidOperationException($"side trainer of job '{JobId}' is not initialized");
        // After Shutdown (job finished or cancelled) stragglers still in the pipeline are dropped.
        _inbox.Writer.TryWrite(item);
        return Task.CompletedTask;
    }

    public Task<SideStatus> GetStatus() => Task.FromResult(new SideStatus(_counters.Processed, _core?.Steps ?? 0,
        _counters.ComputeSeconds, _counters.WaitSeconds, _counters.AliveSeconds, silo.SiloName));

    public async Task<IReadOnlyDictionary<string, TensorPayload>> GetWeights()
    {
        if (_core is null) throw new InvalidOperationException($"side trainer of job '{JobId}' is not initialized");
        // The worker owns the core: ask it, so the copy never races an optimizer step.
        var reply = new TaskCompletionSource<IReadOnlyDictionary<string, TensorPayload>>(TaskCreationOptions.RunContinuationsAsynchronously);
        _inbox.Writer.TryWrite(reply);
        return await reply.Task;
    }

    public async Task Shutdown()
    {
        _shutDown = true;
        _inbox.Writer.TryComplete();
        if (_worker is not null) await _worker;
        _core?.Dispose();
        _core = null;
        DeactivateOnIdle();
    }

    async Task RunWorker(SideTrainerCore core, ITrainingJobGrain job)
    {
        var idle = Stopwatch.StartNew();
        await foreach (var item in _inbox.Reader.ReadAllAsync())
        {
            try
            {
                switch (item)
                {
                    case SideBatch batch: core.Add(batch); break;
                    case IReadOnlyList<TapChunk> chunks: foreach (var c in chunks) core.Add(c); break;
                    case TaskCompletionSource<IReadOnlyDictionary<string, TensorPayload>> reply: reply.TrySetResult(core.Weights()); continue;
                }
                _counters.AddWait(idle.Elapsed);
                var clock = Stopwatch.StartNew();
                while (core.TryApplyNext() is { } applied)
                {
                    _counters.AddCompute(clock.Elapsed);
                    _counters.CountProcessed();
                    job.MicroBatchApplied(applied.Sequence, applied.Step, applied.StepLoss, applied.StepCompleted).Ignore();
                    clock.Restart();
                }
            }
            catch (Exception e)
            {
                log.LogError(e, "side trainer of job {Job} failed", JobId);
                job.Fail($"side trainer: {e.Message}").Ignore();
            }
            idle.Restart();
        }
    }
}
