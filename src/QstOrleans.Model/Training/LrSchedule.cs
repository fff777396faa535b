namespace QstOrleans.Model.Training;

/// <summary>The learning-rate schedules the HF Trainer offers, with its semantics.</summary>
public enum LrScheduleKind
{
    /// <summary>Constant. Like HF's "constant", it ignores warmup (the QST 70B recipe's warmup_ratio has no effect).</summary>
    Constant,
    /// <summary>Linear warmup from 0, then constant.</summary>
    ConstantWithWarmup,
    /// <summary>Linear warmup, then linear decay to 0 at the last step.</summary>
    Linear,
    /// <summary>Linear warmup, then half-cosine decay to 0 at the last step.</summary>
    Cosine,
}

/// <summary>
/// lr(step) for optimizer step indices 0..TotalSteps−1 (the lr used by that step's update), exactly
/// as transformers' <c>get_*_schedule_with_warmup</c> lambdas multiply the base lr.
/// </summary>
public sealed record LrSchedule(LrScheduleKind Kind, double BaseLr, int WarmupSteps, int TotalSteps)
{
    /// <summary>The config name of a schedule kind (the inverse of <see cref="ParseKind"/>).</summary>
    public static string KindName(LrScheduleKind kind) => kind switch
    {
        LrScheduleKind.Constant => "constant",
        LrScheduleKind.ConstantWithWarmup => "constant_with_warmup",
        LrScheduleKind.Linear => "linear",
        LrScheduleKind.Cosine => "cosine",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static LrScheduleKind ParseKind(string name) => name.ToLowerInvariant().Replace("-", "_") switch
    {
        "constant" => LrScheduleKind.Constant,
        "constant_with_warmup" => LrScheduleKind.ConstantWithWarmup,
        "linear" => LrScheduleKind.Linear,
        "cosine" => LrScheduleKind.Cosine,
        _ => throw new ArgumentException($"unknown lr schedule '{name}' (constant, constant_with_warmup, linear, cosine)"),
    };

    public double At(int step)
    {
        if (Kind == LrScheduleKind.Constant) return BaseLr;
        if (step < WarmupSteps) return BaseLr * step / Math.Max(1, WarmupSteps);
        if (Kind == LrScheduleKind.ConstantWithWarmup) return BaseLr;
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return Kind switch
        {
            LrScheduleKind.Linear => BaseLr * Math.Max(0.0, 1.0 - progress),
            _ => BaseLr * Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress))),
        };
    }
}
