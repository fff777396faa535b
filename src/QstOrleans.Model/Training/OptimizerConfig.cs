namespace QstOrleans.Model.Training;

/// <summary>
/// AdamW + schedule + clipping. Defaults are the QST 70B recipe (spec §7.1): lr 1e-4, β (0.9, 0.999),
/// eps 1e-8, weight decay 0, constant schedule, global grad-norm clip 0.3.
/// </summary>
public sealed record OptimizerConfig
{
    public double LearningRate { get; init; } = 1e-4;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; }
    /// <summary>Global L2 norm limit over all trainable gradients; 0 disables clipping.</summary>
    public double MaxGradNorm { get; init; } = 0.3;
    public LrScheduleKind Schedule { get; init; } = LrScheduleKind.Constant;
    public int WarmupSteps { get; init; }
}
