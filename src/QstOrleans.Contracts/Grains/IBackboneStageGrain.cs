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
    [ResponseTimeout("00:10:00")]
    Task<StageStatus> EnsureLoaded(StageSpec spec);

    /// <summary>
    /// Queues one micro-batch. Returns once the stage's bounded queue has accepted it: awaiting this is
    /// the pipeline's back-pressure. The result goes to the next stage (or the side trainer) by itself.
    /// </summary>
    [ResponseTimeout("00:10:00")]
    Task Submit(StageWork work);

    /// <summary>Counters; interleaves with a Submit that is waiting for queue space.</summary>
    [AlwaysInterleave]
    Task<StageStatus> GetStatus();
}
