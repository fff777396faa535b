using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Grains.Side;

/// <summary>
/// Guards a side trainer's restore against a checkpoint store that is not the one the job's checkpoints went to. With a
/// directory per host instead of one shared by every silo, a side trainer re-activated on another host finds an empty
/// (or stale) store, and restoring "the latest checkpoint" would silently restart the job from step 0. The job knows the
/// newest checkpoint it saw committed (<see cref="SideSpec.ExpectedCheckpointStep"/>); a store that lists nothing at or
/// after that step is refused. Corrupt checkpoints count as present: listed ones, and those an earlier restore already moved
/// to quarantine (a second recovery after a corrupt checkpoint must still see that the store had it), so the store's
/// fallback to an older valid checkpoint, with its warning, is unaffected.
/// </summary>
internal static class StoreContinuity
{
    /// <exception cref="InvalidDataException">The store holds no checkpoint at or after the expected step (deterministic: the job fails with it).</exception>
    public static async Task EnsureHoldsExpected(SideSpec spec, CheckpointStore store, string siloName)
    {
        if (spec.ExpectedCheckpointStep <= 0) return;
        var steps = await store.ListStepsAsync();
        long newest = steps.Count > 0 ? steps[^1] : 0;
        if (newest >= spec.ExpectedCheckpointStep) return;
        var quarantined = await store.ListQuarantinedStepsAsync();
        if (quarantined.Count > 0 && quarantined[^1] >= spec.ExpectedCheckpointStep) return;
        string holds = steps.Count == 0 ? "no checkpoint" : $"checkpoints up to step {newest} only";
        throw new InvalidDataException(
            $"checkpoint store {store.Location} (seen from silo {siloName}) holds {holds} of job '{spec.JobId}', but the job committed " +
            $"checkpoint {spec.ExpectedCheckpointStep}: the store is not shared by every silo (set Qst:Checkpoints:Path to a directory " +
            $"mounted on all hosts, or Qst:Checkpoints:Store=azure); refusing to restart from step {newest} instead");
    }
}
