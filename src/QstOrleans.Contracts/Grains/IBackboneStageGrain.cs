using Orleans.Concurrency;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Contracts.Grains;

/// <summary>
/// Owns layers [a, b) of one model on one device slot and only runs them forward. Key:
/// <c>{model key}|{first}-{end}|{slot id}</c> (see <c>StageKey</c>); the slot part decides placement, and
/// every job using the same model and split shares the grain (the backbone is frozen).
/// </summary>
public interface IBackboneStageGrain : IGrainWithStringKey
{
    /// <summary>Loads the layers if not loaded yet (quantizing while loading). Idempotent.</summary>
    [ResponseTimeout("00:10:00"), ControlPlane]
    Task<StageStatus> EnsureLoaded(StageSpec spec);

    /// <summary>
    /// Queues one micro-batch. Returns once the stage's bounded queue has accepted it: awaiting this is
    /// the pipeline's back-pressure. The result goes to the next stage (or the side trainer) by itself.
    /// </summary>
    [ResponseTimeout("00:10:00"), ControlPlane]
    Task Submit(StageWork work);

    // ---- lean taps: the W_A slices of this stage's layers, per job (see Wire/LeanTaps.cs). These interleave with a Submit
    // that waits for queue space: they only talk to the job's lean-taps worker, never to the backbone worker.

    /// <summary>Takes the W_A slices of a job attempt (replacing any older attempt's); sent by the side trainer before any work.</summary>
    [AlwaysInterleave, ResponseTimeout("00:10:00"), ControlPlane]
    Task InitializeAdapters(StageAdapterState state);

    /// <summary>Accumulates W_A's gradient from G (in sequence order, whatever order these arrive in). At a window end the
    /// reply is Σ g² of each W_A gradient (adapter order), once every micro-batch of the window is in; otherwise null.</summary>
    [AlwaysInterleave, ResponseTimeout("00:10:00"), ControlPlane]
    Task<double[]?> SubmitTapGradients(TapGradients gradients);

    /// <summary>Applies optimizer step <see cref="AdapterStep.Step"/> to the W_A slices; returns once they are updated.</summary>
    [AlwaysInterleave, ResponseTimeout("00:10:00"), ControlPlane]
    Task ApplyAdapterStep(AdapterStep step);

    /// <summary>The W_A slices and their AdamW state as they are now (between optimizer steps), for checkpoints and weights.</summary>
    [AlwaysInterleave, ResponseTimeout("00:10:00"), ControlPlane]
    Task<StageAdapterState> ExportAdapters(string jobId, int attempt);

    /// <summary>Drops a job's W_A slices if they belong to attempt <paramref name="attempt"/> or an older one (the job ended, or
    /// that attempt was replaced).</summary>
    [AlwaysInterleave, ControlPlane]
    Task ReleaseAdapters(string jobId, int attempt);

    /// <summary>
    /// Runs one evaluation micro-batch forward through this stage's layers and returns its full taps (see
    /// <see cref="StageForwardResult"/>). Forward only: no queue, no W_A, no state of any job changes. Interleaves (it waits for
    /// nothing but the stage's own forward lock), so an evaluating side trainer never queues behind a Submit.
    /// </summary>
    [AlwaysInterleave, ResponseTimeout("00:10:00"), ControlPlane]
    Task<StageForwardResult> ForwardOnly(StageForwardRequest request);

    /// <summary>Counters; interleaves with a Submit that is waiting for queue space.</summary>
    [AlwaysInterleave]
    Task<StageStatus> GetStatus();
}
