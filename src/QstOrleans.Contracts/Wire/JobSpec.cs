namespace QstOrleans.Contracts.Wire;

/// <summary>
/// Everything a training job needs: model, data, QST config, schedule, batch shape, seed and how many
/// backbone stages to split the model into. Paths are as the silos see them.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobSpec
{
    [Id(0)] public required string ModelDirectory { get; init; }
    [Id(1)] public required string DataFile { get; init; }
    [Id(2)] public int Epochs { get; init; } = 1;
    /// <summary>Stop after this many optimizer steps (0 = all epochs).</summary>
    [Id(3)] public int MaxSteps { get; init; }
    [Id(4)] public int MicroBatchSize { get; init; } = 8;
    [Id(5)] public int GradientAccumulation { get; init; } = 1;
    [Id(6)] public double LearningRate { get; init; } = 1e-3;
    /// <summary>constant, constant_with_warmup, linear or cosine.</summary>
    [Id(7)] public string Schedule { get; init; } = "constant";
    [Id(8)] public int WarmupSteps { get; init; }
    [Id(9)] public double MaxGradNorm { get; init; } = 0.3;
    [Id(10)] public double WeightDecay { get; init; }
    [Id(11)] public long Seed { get; init; }
    /// <summary>Number of backbone stages (each on its own device slot).</summary>
    [Id(12)] public int Stages { get; init; } = 1;
    [Id(13)] public QstSpec Qst { get; init; } = new();
    /// <summary>bf16 or fp32 matmuls.</summary>
    [Id(14)] public string Dtype { get; init; } = "bf16";
    /// <summary>Backbone weights: nf4 (default) or bf16/fp32 (unquantized reference).</summary>
    [Id(15)] public string BackboneFormat { get; init; } = "nf4";
    [Id(16)] public bool DoubleQuant { get; init; } = true;
    /// <summary>Micro-batches in flight at once (credits); bounds memory however long the epoch.</summary>
    [Id(17)] public int Window { get; init; } = 4;
    [Id(18)] public int MaxSourceTokens { get; init; } = 512;
    [Id(19)] public int MaxTargetTokens { get; init; } = 512;
    /// <summary>Dataset format: auto, alpaca, chat, text or tokens.</summary>
    [Id(20)] public string Format { get; init; } = "auto";
    /// <summary>Tokens per example and packing block size (0 = MaxSourceTokens + MaxTargetTokens).</summary>
    [Id(21)] public int MaxLength { get; init; }
    /// <summary>Pack the examples into blocks of exactly the maximum length.</summary>
    [Id(22)] public bool Pack { get; init; }
    /// <summary>Batch examples of similar length together.</summary>
    [Id(23)] public bool GroupByLength { get; init; }
    /// <summary>Drop bad records (reported in the data summary) instead of failing the job.</summary>
    [Id(24)] public bool SkipInvalid { get; init; }
    /// <summary>Checkpoint the side network every this many optimizer steps (0 = never by steps).</summary>
    [Id(25)] public int CheckpointEverySteps { get; init; } = 100;
    /// <summary>Checkpoint at the first step boundary once this many minutes passed since the last one (0 = never by time).</summary>
    [Id(26)] public double CheckpointEveryMinutes { get; init; } = 10;
}

/// <summary>The QST side-network options (mirrors QstOrleans.Model.Qst.QstConfig; defaults = the reference's).</summary>
[GenerateSerializer, Immutable]
public sealed record QstSpec
{
    [Id(0)] public int R { get; init; } = 16;
    [Id(1)] public int AdapterBottleneck { get; init; } = 16;
    [Id(2)] public bool TrainMergeGate { get; init; }
}
