using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Side.Evaluation;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Grains.Side;

/// <summary>
/// The side network of one job (key = job id). Each <see cref="Initialize"/> starts a fresh <see cref="SideSession"/>
/// for one job attempt, restored from the job's latest valid checkpoint when there is one; taps and labels of that
/// attempt go to its worker, those of older attempts are dropped (fencing). Work arriving at an activation that was
/// never initialized (the previous one died with its silo) is reported to the job as a fault, so it recovers.
/// Memory stays bounded because the job keeps at most its window in flight.
/// </summary>
/// <remarks>Initialize throws <see cref="InvalidDataException"/> when the stored checkpoint belongs to another job spec,
/// <see cref="CheckpointCorruptException"/> when checkpoints exist but none verifies, and <see cref="InvalidDataException"/> when
/// the store lacks the checkpoint the job recorded as committed (<see cref="StoreContinuity"/>).</remarks>
[Placement.SideTrainerPlacement]
public sealed class SideTrainerGrain(QstSiloOptions silo, CheckpointStores stores, SiloStopping stopping, ILogger<SideTrainerGrain> log) : Grain, ISideTrainerGrain
{
    SideSession? _session;
    /// <summary>The newest attempt an Initialize was called for: work of older attempts is dropped, also while that
    /// Initialize runs (work interleaves with it, see <see cref="ISideTrainerGrain"/>).</summary>
    int _newestAttempt = -1;
    bool _shutDown;
    string JobId => this.GetPrimaryKeyString();
    ITrainingJobGrain Job => GrainFactory.GetGrain<ITrainingJobGrain>(JobId);

    public async Task<SidePosition> Initialize(SideSpec spec, int attempt)
    {
        _shutDown = false;
        _newestAttempt = Math.Max(_newestAttempt, attempt);
        if (_session is { } old)
        {
            _session = null;   // from here on, work of the old attempt is dropped
            await old.StopAsync();
        }
        var store = await stores.ForJob(JobId);
        await StoreContinuity.EnsureHoldsExpected(spec, store, silo.SiloName);
        var local = await ServiceProvider.GetRequiredService<Inputs.StoredDatasets>().LocalizeAsync(spec.Job);   // store: URIs → this silo's copies
        var sets = await Task.Run(() => SideEvaluation.Load(local));   // before the core: a bad file fails first
        var (core, position) = await Task.Run(() => Build(spec, local.ModelDirectory, store));
        StageAdapterLink? link = null;
        if (core.IsLean)
        {
            // Lean taps: the stages hold W_A; hand them the (restored) slices before any micro-batch of this attempt flows.
            link = new StageAdapterLink(GrainFactory, spec, attempt, stopping.Token);
            try { await link.InitializeAsync(core); }
            catch
            {
                core.Dispose();
                throw;
            }
        }
        _session = new SideSession(attempt, core, position, spec, store, Job, log, link,
            sets is null ? null : new SideEvaluation(GrainFactory, spec, attempt, sets));
        _session.Start();
        Telemetry.WorkerGauges.Track(_session.Counters, "side", JobId, silo.SiloName);
        log.LogInformation("side trainer of job {Job} ready on silo {Silo} for attempt {Attempt} at step {Step} (micro-batch {Next}{From})",
            JobId, silo.SiloName, attempt, position.Step, position.NextMicroBatch,
            position.CheckpointStep is { } s ? $", from checkpoint {s} in {position.CheckpointLocation}" : "");
        return position;
    }

    /// <summary>Builds the core and restores the latest valid checkpoint (off the grain scheduler: it is heavy).</summary>
    static async Task<(SideTrainerCore, SidePosition)> Build(SideSpec spec, string modelDirectory, CheckpointStore store)
    {
        var core = new SideTrainerCore(spec, modelDirectory);
        string folder = Path.Combine(Path.GetTempPath(), $"qst-restore-{Guid.NewGuid():N}");
        try
        {
            var loaded = await store.LoadLatestValidAsync(folder);
            if (loaded is null) return (core, new SidePosition(0, 0, null, store.Location, [], []));
            var state = core.Restore(loaded.Directory, $"{store.Location} checkpoint {loaded.Step}");
            return (core, new SidePosition(state.Step, state.NextMicroBatch, loaded.Step, store.Location, loaded.Warnings, core.StepLosses.ToList()));
        }
        catch
        {
            core.Dispose();
            throw;
        }
        finally
        {
            try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    public Task SubmitBatch(SideBatch batch) => Enqueue(batch, batch.Attempt);

    public Task SubmitTaps(IReadOnlyList<TapChunk> chunks) => chunks.Count == 0 ? Task.CompletedTask : Enqueue(chunks, chunks[0].Attempt);

    Task Enqueue(object item, int attempt)
    {
        if (attempt < _newestAttempt) return Task.CompletedTask;   // fenced: an older attempt's work
        var session = _session;
        if (session is null)
        {
            // After Shutdown (job finished or cancelled) stragglers still in the pipeline are dropped; otherwise this
            // activation replaced one that died with its silo, and the job must restore it from the checkpoint.
            if (!_shutDown)
                Job.ReportFault(attempt, $"side trainer of job '{JobId}' on silo {silo.SiloName} has no state (re-activated after a silo failure?)").Ignore();
            return Task.CompletedTask;
        }
        if (attempt < session.Attempt) return Task.CompletedTask;   // fenced: an older attempt's work
        if (attempt > session.Attempt)
        {
            Job.ReportFault(attempt, $"side trainer of job '{JobId}' is initialized for attempt {session.Attempt}, got work of attempt {attempt}").Ignore();
            return Task.CompletedTask;
        }
        session.Post(item);
        return Task.CompletedTask;
    }

    public Task RequestCheckpoint(int attempt)
    {
        if (_session is { } s && s.Attempt == attempt) s.RequestCheckpoint();
        return Task.CompletedTask;
    }

    public Task<SideStatus> GetStatus()
    {
        var s = _session;
        return Task.FromResult(s is null
            ? new SideStatus(0, 0, 0, 0, 0, silo.SiloName)
            : new SideStatus(s.Counters.Processed, s.Steps, s.Counters.ComputeSeconds, s.Counters.WaitSeconds, s.Counters.AliveSeconds,
                silo.SiloName, s.Attempt, s.ResumedFrom));
    }

    public async Task<IReadOnlyDictionary<string, TensorPayload>> GetWeights()
    {
        var s = _session ?? throw new InvalidOperationException($"side trainer of job '{JobId}' is not initialized");
        // The worker owns the core: ask it, so the copy never races an optimizer step.
        var reply = new TaskCompletionSource<IReadOnlyDictionary<string, TensorPayload>>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!s.Post(reply)) throw new InvalidOperationException($"side trainer of job '{JobId}' is stopping");
        return await reply.Task;
    }

    public async Task Shutdown()
    {
        _shutDown = true;
        await StopSession();
        DeactivateOnIdle();
    }

    /// <summary>On a stopping silo the session's calls to stages end at once (<see cref="SiloStopping"/>), so this does not
    /// wait on a stage that deactivates after it; <paramref name="token"/> bounds the rest (Orleans' deactivation timeout).</summary>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken token) => StopSession(token);

    async Task StopSession(CancellationToken cancel = default)
    {
        if (_session is not { } s) return;
        _session = null;
        await s.StopAsync(cancel);
    }
}
