using Orleans.Concurrency;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Contracts.Grains;

/// <summary>
/// The side network, optimizer and LR schedule of one job (key = job id): the only place with autograd.
/// Collects each micro-batch's taps (from several stages, in any order, in chunks) and labels, and applies
/// micro-batches strictly in sequence order, stepping the optimizer every accumulation window. Checkpoints itself
/// at step boundaries (<see cref="JobSpec.CheckpointEverySteps"/>, <see cref="JobSpec.CheckpointEveryMinutes"/>) and
/// tells the job each commit.
/// </summary>
public interface ISideTrainerGrain : IGrainWithStringKey
{
    /// <summary>
    /// (Re)builds the side network for job attempt <paramref name="attempt"/>: any previous state is dropped and the
    /// latest valid checkpoint of the job, if any, restored. From then on only work of this attempt is accepted.
    /// Throws <see cref="InvalidDataException"/> when the checkpoint belongs to another job spec.
    /// </summary>
    [ResponseTimeout("00:05:00"), ControlPlane]
    Task<SidePosition> Initialize(SideSpec spec, int attempt);

    // Work only posts to the session's inbox and never waits, so it interleaves with everything: a stage's lean-taps worker
    // sending U must never queue behind this grain's Initialize/Shutdown/GetWeights, which may be waiting for that very
    // worker (Initialize → stage InitializeAdapters → the old attempt's worker stops → its send to this grain: a deadlock
    // until the response timeout, seen as a recovery that never finished).

    /// <summary>The labels of one micro-batch (from the job's feeder).</summary>
    [AlwaysInterleave, ControlPlane]
    Task SubmitBatch(SideBatch batch);

    /// <summary>Taps (full) or projections U and ĥ (lean) of micro-batches, in chunks, from the stages.</summary>
    [AlwaysInterleave, ResponseTimeout("00:10:00"), ControlPlane]
    Task SubmitTaps(IReadOnlyList<TapChunk> chunks);

    /// <summary>Counters and position of the side trainer.</summary>
    [AlwaysInterleave]
    Task<SideStatus> GetStatus();

    /// <summary>The trainable weights by parameter name (for tests and export).</summary>
    [ResponseTimeout("00:05:00")]
    Task<IReadOnlyDictionary<string, TensorPayload>> GetWeights();

    /// <summary>Stops the worker and frees the side network.</summary>
    Task Shutdown();

    /// <summary>Commit a checkpoint at the next optimizer-step boundary of <paramref name="attempt"/> (ignored for another attempt).</summary>
    [AlwaysInterleave, ControlPlane]
    Task RequestCheckpoint(int attempt);
}
