namespace QstOrleans.Cli.Bench.Reports;

/// <summary>
/// One configuration of <c>qst bench compare</c>: every round's child process (<see cref="MethodRun"/>) summarised.
/// Speed is the median over all measured steps of all rounds (min–max beside it); memory is the median over the rounds
/// of each process's training peak (VmHWM reset after loading), and of that peak above the process's own after-load RSS.
/// Bytes throughout.
/// </summary>
public sealed record ComparedRun
{
    /// <summary>qst, qst-cached, qlora, lora or full (without the <c>+gc</c> suffix: see <see cref="GradientCheckpointing"/>).</summary>
    public required string Method { get; init; }
    /// <summary>Each decoder layer recomputed in backward (lora/qlora/full; QST never keeps a backbone graph).</summary>
    public bool GradientCheckpointing { get; init; }
    public required BenchShape Shape { get; init; }
    /// <summary>Median tokens/s over every measured step of every round.</summary>
    public double TokensPerSecond { get; init; }
    public double TokensPerSecondMin { get; init; }
    public double TokensPerSecondMax { get; init; }
    /// <summary>Measured steps behind <see cref="TokensPerSecond"/> (warm-up steps excluded), all rounds together.</summary>
    public int StepsTimed { get; init; }
    public int Rounds { get; init; }
    /// <summary>Median over rounds of the training peak RSS (whole process).</summary>
    public long PeakRssTraining { get; init; }
    public long PeakRssTrainingMin { get; init; }
    public long PeakRssTrainingMax { get; init; }
    /// <summary>Median over rounds of RSS after loading the model (the level the training peak is taken above).</summary>
    public long RssAfterLoad { get; init; }
    /// <summary>Median over rounds of RSS with libtorch initialised, before the model.</summary>
    public long RssBeforeLoad { get; init; }
    /// <summary>Median over rounds of (training peak − after-load RSS): what the steps themselves cost.</summary>
    public long PeakAboveLoad { get; init; }
    /// <summary>Median over rounds of (training peak − RSS before loading): weights and steps together.</summary>
    public long PeakAboveFloor { get; init; }
    /// <summary>Median over rounds of the minor page faults per measured step (<see cref="MethodRun.MinorFaultsPerStep"/>);
    /// null when a round did not measure them (off Linux, or records written before the field existed).</summary>
    public double? MinorFaultsPerStep { get; init; }
    /// <summary>Median over rounds of each phase of a step (<see cref="MethodRun.Phases"/>); null when a round did not
    /// measure them (records written before session 10).</summary>
    public QstOrleans.Model.Metrics.StepPhases? Phases { get; init; }
    public long TrainableParameters { get; init; }
    public long WeightBytes { get; init; }
    /// <summary>First round's loss at its first and last step (a sanity check that it trained).</summary>
    public float FirstLoss { get; init; }
    public float LastLoss { get; init; }
    /// <summary>Every measured step's tokens/s, round by round.</summary>
    public IReadOnlyList<double> StepTokensPerSecond { get; init; } = [];
    /// <summary>Where this configuration's processes ran in the interleaved sequence (0-based, all configurations counted).</summary>
    public IReadOnlyList<int> Positions { get; init; } = [];
    /// <summary>The command that measured it, when and under which load.</summary>
    public string Command { get; init; } = "";
    public DateTimeOffset Date { get; init; }
    public string LoadAverage { get; init; } = "";

    /// <summary>QST's side attention heads (<c>qst.side_heads</c>): 0 = the backbone's count, the reference's shape.
    /// Absent in records written before the field existed, which all ran the default.</summary>
    public int SideHeads { get; init; }

    /// <summary>QST's side attention scores kept bf16 through mask and softmax (<c>qst.side_scores_bf16</c>); false in
    /// records written before the field existed, which all ran fp32 scores.</summary>
    public bool SideScoresBf16 { get; init; }

    /// <summary>The attention kernel every layer ran (<c>Attention/AttentionKernels</c>: recompute, the engine's; fused; eager);
    /// "eager" in records written before the field existed (before session 9), which all ran the eager path.</summary>
    public string Attention { get; init; } = "eager";

    /// <summary>The row name used in tables: <c>qlora+gc</c> for a checkpointed QLoRA, <c>qst:heads=1</c> for one side head,
    /// <c>qst:bf16-scores</c> for bf16 side attention scores.</summary>
    public string Label => LabelOf(Method, GradientCheckpointing, SideHeads, SideScoresBf16, Attention);

    /// <summary>The label shared by a record and the <c>--configs</c> item that measured it.</summary>
    public static string LabelOf(string method, bool gradientCheckpointing, int sideHeads, bool sideScoresBf16 = false, string attention = DefaultAttention) =>
        (gradientCheckpointing ? method + BenchRunOne.CheckpointedSuffix : method) +
        (sideHeads > 0 ? ":heads=" + sideHeads.ToString(CultureInfo.InvariantCulture) : "") +
        (sideScoresBf16 ? ":bf16-scores" : "") +
        (attention == DefaultAttention ? "" : ":" + attention);

    /// <summary>The engine's attention kernel, the one a label does not name.</summary>
    public const string DefaultAttention = "recompute";
}
