using QstOrleans.Grains.Placement;

namespace QstOrleans.Grains.Jobs.Pipeline;

/// <summary>
/// The calls a job makes to its pipeline's grains outside the micro-batch flow: bringing an attempt up before any
/// micro-batch is sent, and asking the stages how busy they are.
/// </summary>
internal static class PipelineGrains
{
    /// <summary>
    /// Loads the stages of <paramref name="plan"/> (a stage already holding the same layers is shared) and
    /// (re)initializes the side trainer for <paramref name="attempt"/>, which restores the latest valid checkpoint.
    /// Returns where the side trainer stands and the silo it runs on. <paramref name="expectedCheckpointStep"/>: the job's last
    /// committed checkpoint, which the side trainer's store must hold (else the store is not shared and the job fails).
    /// </summary>
    public static async Task<(SidePosition Position, string SideSilo)> LaunchAsync(IGrainFactory grains, string jobId, JobPlan plan, int attempt,
        long expectedCheckpointStep)
    {
        var spec = plan.Spec;
        var stageSpec = new StageSpec(spec.ModelDirectory, 0, 0, spec.BackboneFormat, spec.DoubleQuant, spec.Dtype, spec.Config.Precision.Attention);
        await Task.WhenAll(plan.Stages.Select((s, i) => grains.GetGrain<IBackboneStageGrain>(plan.StageKeys[i])
            .EnsureLoaded(stageSpec with { First = s.First, End = s.End })));
        var side = grains.GetGrain<ISideTrainerGrain>(jobId);
        // The call that activates the side trainer carries the placement hint: by the last stage when its silo has room.
        var position = await SideTrainerPlacement.WithHint(plan.Stages.Select(s => s.Slot.Id).ToList(), () =>
            side.Initialize(new SideSpec(jobId, spec, plan.TotalSteps, plan.Model.NumLayers + 1, plan.MicroBatchesPerEpoch, expectedCheckpointStep, plan.StageKeys), attempt));
        return (position, (await side.GetStatus()).Silo);
    }

    /// <summary>Fraction of wall time each stage of <paramref name="plan"/> spent computing, by stage key.</summary>
    public static async Task<IReadOnlyDictionary<string, double>> StageUtilisationAsync(IGrainFactory grains, JobPlan plan)
    {
        var statuses = await Task.WhenAll(plan.StageKeys.Select(k => grains.GetGrain<IBackboneStageGrain>(k).GetStatus()));
        return statuses.ToDictionary(s => s.Key, s => s.AliveSeconds > 0 ? s.ComputeSeconds / s.AliveSeconds : 0);
    }
}
