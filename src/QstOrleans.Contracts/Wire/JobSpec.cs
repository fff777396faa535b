using System.Text.Json.Serialization;
using QstOrleans.Configuration;

namespace QstOrleans.Contracts.Wire;

/// <summary>
/// The wire envelope of a training job: the paths as the silos see them plus the job's <see cref="TrainingConfig"/>
/// (every knob, with the one set of defaults <c>qst train-local</c> uses too). The settable properties below the config
/// are shorthands that read and write its keys (so <c>spec with { Stages = 2 }</c> keeps working); only
/// <see cref="ModelDirectory"/>, <see cref="DataFile"/>, <see cref="Config"/> and the evaluation files travel.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobSpec
{
    /// <summary>The HF model directory, as the silos see it, or a model in the cluster's store (<c>store:models/…</c>, <see cref="StoreUris"/>).</summary>
    [Id(0)] public required string ModelDirectory { get; init; }
    /// <summary>The training data file, as the silos see it, or a dataset in the cluster's store (<c>store:datasets/…</c>).</summary>
    [Id(1)] public required string DataFile { get; init; }
    /// <summary>Everything else the job needs. A new id (27): ids 2..26 were the flat fields of earlier versions.</summary>
    [Id(27)] public TrainingConfig Config { get; init; } = TrainingConfig.Defaults;
    // The evaluation files are left out of the JSON when absent, so the fingerprints (JobSpecHash) of specs without them stay as they were.
    /// <summary>A separate validation file, as the silos see it (<c>--val-data</c>; excludes <c>evaluation.val_fraction</c>); null = none.</summary>
    [Id(28), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ValidationFile { get; init; }
    /// <summary>An MMLU-style JSONL file, as the silos see it (<c>--mmlu</c>), for multiple-choice accuracy; null = none.</summary>
    [Id(29), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? MmluFile { get; init; }

    // Shorthands over Config (not serialized: Config is the one copy).

    /// <summary><c>schedule.epochs</c>.</summary>
    [JsonIgnore] public int Epochs { get => Config.Schedule.Epochs; init => Config = Config with { Schedule = Config.Schedule with { Epochs = value } }; }
    /// <summary><c>schedule.max_steps</c> (0 = all epochs).</summary>
    [JsonIgnore] public int MaxSteps { get => Config.Schedule.MaxSteps; init => Config = Config with { Schedule = Config.Schedule with { MaxSteps = value } }; }
    /// <summary><c>schedule.micro_batch_size</c>.</summary>
    [JsonIgnore] public int MicroBatchSize { get => Config.Schedule.MicroBatchSize; init => Config = Config with { Schedule = Config.Schedule with { MicroBatchSize = value } }; }
    /// <summary><c>schedule.gradient_accumulation</c>.</summary>
    [JsonIgnore] public int GradientAccumulation { get => Config.Schedule.GradientAccumulation; init => Config = Config with { Schedule = Config.Schedule with { GradientAccumulation = value } }; }
    /// <summary><c>schedule.seed</c>.</summary>
    [JsonIgnore] public long Seed { get => Config.Schedule.Seed; init => Config = Config with { Schedule = Config.Schedule with { Seed = value } }; }
    /// <summary><c>optimizer.learning_rate</c>.</summary>
    [JsonIgnore] public double LearningRate { get => Config.Optimizer.LearningRate; init => Config = Config with { Optimizer = Config.Optimizer with { LearningRate = value } }; }
    /// <summary><c>optimizer.lr_schedule</c>: constant, constant_with_warmup, linear or cosine.</summary>
    [JsonIgnore] public string Schedule { get => Config.Optimizer.LrSchedule; init => Config = Config with { Optimizer = Config.Optimizer with { LrSchedule = value } }; }
    /// <summary><c>optimizer.warmup_steps</c>.</summary>
    [JsonIgnore] public int WarmupSteps { get => Config.Optimizer.WarmupSteps; init => Config = Config with { Optimizer = Config.Optimizer with { WarmupSteps = value } }; }
    /// <summary><c>optimizer.max_grad_norm</c>.</summary>
    [JsonIgnore] public double MaxGradNorm { get => Config.Optimizer.MaxGradNorm; init => Config = Config with { Optimizer = Config.Optimizer with { MaxGradNorm = value } }; }
    /// <summary><c>optimizer.weight_decay</c>.</summary>
    [JsonIgnore] public double WeightDecay { get => Config.Optimizer.WeightDecay; init => Config = Config with { Optimizer = Config.Optimizer with { WeightDecay = value } }; }
    /// <summary><c>pipeline.stages</c>: backbone stages, each on its own device slot.</summary>
    [JsonIgnore] public int Stages { get => Config.Pipeline.Stages; init => Config = Config with { Pipeline = Config.Pipeline with { Stages = value } }; }
    /// <summary><c>pipeline.window</c>: micro-batches in flight at once.</summary>
    [JsonIgnore] public int Window { get => Config.Pipeline.Window; init => Config = Config with { Pipeline = Config.Pipeline with { Window = value } }; }
    /// <summary><c>pipeline.taps</c>: lean (stages send U = W_A·x) or full (stages send hidden states).</summary>
    [JsonIgnore] public string Taps { get => Config.Pipeline.Taps; init => Config = Config with { Pipeline = Config.Pipeline with { Taps = value } }; }
    /// <summary><c>qst.r</c>, <c>qst.adapter_bottleneck</c>, <c>qst.train_merge_gate</c>.</summary>
    [JsonIgnore] public QstSpec Qst
    {
        get => new() { R = Config.Qst.R, AdapterBottleneck = Config.Qst.AdapterBottleneck, TrainMergeGate = Config.Qst.TrainMergeGate };
        init => Config = Config with { Qst = Config.Qst with { R = value.R, AdapterBottleneck = value.AdapterBottleneck, TrainMergeGate = value.TrainMergeGate } };
    }
    /// <summary><c>precision.dtype</c>: bf16 or fp32 matmuls.</summary>
    [JsonIgnore] public string Dtype { get => Config.Precision.Dtype; init => Config = Config with { Precision = Config.Precision with { Dtype = value } }; }
    /// <summary><c>precision.backbone_format</c>: nf4, or bf16/fp32 (unquantized reference).</summary>
    [JsonIgnore] public string BackboneFormat { get => Config.Precision.BackboneFormat; init => Config = Config with { Precision = Config.Precision with { BackboneFormat = value } }; }
    /// <summary><c>precision.double_quant</c>.</summary>
    [JsonIgnore] public bool DoubleQuant { get => Config.Precision.DoubleQuant; init => Config = Config with { Precision = Config.Precision with { DoubleQuant = value } }; }
    /// <summary><c>data.max_source_tokens</c>.</summary>
    [JsonIgnore] public int MaxSourceTokens { get => Config.Data.MaxSourceTokens; init => Config = Config with { Data = Config.Data with { MaxSourceTokens = value } }; }
    /// <summary><c>data.max_target_tokens</c>.</summary>
    [JsonIgnore] public int MaxTargetTokens { get => Config.Data.MaxTargetTokens; init => Config = Config with { Data = Config.Data with { MaxTargetTokens = value } }; }
    /// <summary><c>data.format</c>: auto, alpaca, chat, text or tokens.</summary>
    [JsonIgnore] public string Format { get => Config.Data.Format; init => Config = Config with { Data = Config.Data with { Format = value } }; }
    /// <summary><c>data.max_length</c> (0 = source + target limits).</summary>
    [JsonIgnore] public int MaxLength { get => Config.Data.MaxLength; init => Config = Config with { Data = Config.Data with { MaxLength = value } }; }
    /// <summary><c>data.pack</c>.</summary>
    [JsonIgnore] public bool Pack { get => Config.Data.Pack; init => Config = Config with { Data = Config.Data with { Pack = value } }; }
    /// <summary><c>data.group_by_length</c>.</summary>
    [JsonIgnore] public bool GroupByLength { get => Config.Data.GroupByLength; init => Config = Config with { Data = Config.Data with { GroupByLength = value } }; }
    /// <summary><c>data.skip_invalid</c>.</summary>
    [JsonIgnore] public bool SkipInvalid { get => Config.Data.SkipInvalid; init => Config = Config with { Data = Config.Data with { SkipInvalid = value } }; }
    /// <summary><c>checkpoint.every_steps</c> (0 = never by steps).</summary>
    [JsonIgnore] public int CheckpointEverySteps { get => Config.Checkpoint.EverySteps; init => Config = Config with { Checkpoint = Config.Checkpoint with { EverySteps = value } }; }
    /// <summary><c>checkpoint.every_minutes</c> (0 = never by time).</summary>
    [JsonIgnore] public double CheckpointEveryMinutes { get => Config.Checkpoint.EveryMinutes; init => Config = Config with { Checkpoint = Config.Checkpoint with { EveryMinutes = value } }; }
}

/// <summary>A shorthand for three <c>qst.*</c> keys of <see cref="TrainingConfig.Qst"/> (defaults read from there).</summary>
public sealed record QstSpec
{
    /// <summary><c>qst.r</c>: side width reduction.</summary>
    public int R { get; init; } = TrainingConfig.Defaults.Qst.R;
    /// <summary><c>qst.adapter_bottleneck</c>.</summary>
    public int AdapterBottleneck { get; init; } = TrainingConfig.Defaults.Qst.AdapterBottleneck;
    /// <summary><c>qst.train_merge_gate</c>.</summary>
    public bool TrainMergeGate { get; init; } = TrainingConfig.Defaults.Qst.TrainMergeGate;
}
