using QstOrleans.Configuration;

namespace QstOrleans.Model.Training;

/// <summary>
/// AdamW + schedule + clipping, as the engine takes them. Built from <see cref="OptimizerSection"/>
/// (<see cref="From"/>); its defaults are read from there (QST 70B recipe, spec §7.1: lr 1e-4, β (0.9, 0.999), eps 1e-8,
/// weight decay 0, constant schedule, global grad-norm clip 0.3), never declared here.
/// </summary>
public sealed record OptimizerConfig
{
    // Read once: TrainingConfig.Defaults builds a whole fresh config per call.
    static readonly OptimizerSection D = TrainingConfig.Defaults.Optimizer;

    public double LearningRate { get; init; } = D.LearningRate;
    public double Beta1 { get; init; } = D.Beta1;
    public double Beta2 { get; init; } = D.Beta2;
    public double Epsilon { get; init; } = D.Epsilon;
    public double WeightDecay { get; init; } = D.WeightDecay;
    /// <summary>Global L2 norm limit over all trainable gradients; 0 disables clipping.</summary>
    public double MaxGradNorm { get; init; } = D.MaxGradNorm;
    public LrScheduleKind Schedule { get; init; } = LrSchedule.ParseKind(D.LrSchedule);
    public int WarmupSteps { get; init; } = D.WarmupSteps;
    /// <summary><c>optimizer.non_finite = skip</c>: a step with a non-finite loss or gradient norm is skipped instead of failing.</summary>
    public bool SkipNonFinite { get; init; } = D.NonFinite == "skip";

    /// <summary>The engine's view of the <c>optimizer</c> section.</summary>
    public static OptimizerConfig From(OptimizerSection s) => new()
    {
        LearningRate = s.LearningRate, Beta1 = s.Beta1, Beta2 = s.Beta2, Epsilon = s.Epsilon, WeightDecay = s.WeightDecay,
        MaxGradNorm = s.MaxGradNorm, Schedule = LrSchedule.ParseKind(s.LrSchedule), WarmupSteps = s.WarmupSteps,
        SkipNonFinite = s.NonFinite == "skip",
    };
}
