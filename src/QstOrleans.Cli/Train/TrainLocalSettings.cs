using QstOrleans.Configuration;
using QstOrleans.Data.Datasets;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Train;

/// <summary>
/// Everything <c>qst train-local</c> needs (tests build it directly): the paths of this run plus its
/// <see cref="TrainingConfig"/>, the one configuration <c>qst train</c> sends as well. The engine-typed properties
/// (<see cref="Optimizer"/>, <see cref="Trainer"/>, <see cref="Qst"/>, …) are views of <see cref="Config"/>: reading maps
/// the config onto the engine's records, setting writes the values back into it, so there is one copy and one default.
/// </summary>
public sealed record TrainLocalSettings
{
    public string? Model { get; init; }
    public string? Data { get; init; }
    /// <summary>Every training knob (defaults: <see cref="TrainingConfig.Defaults"/>).</summary>
    public TrainingConfig Config { get; init; } = TrainingConfig.Defaults;
    /// <summary>Run folder: trainable.safetensors, training_config.json, metrics.jsonl, loss.png and, for QST, the side-network export; null = not saved.</summary>
    public string? Output { get; init; }
    /// <summary>File of validation examples (any format; never packed).</summary>
    public string? ValData { get; init; }
    /// <summary>MMLU-style JSONL file for multiple-choice accuracy.</summary>
    public string? Mmlu { get; init; }

    // Views of Config in the engine's types.

    /// <summary><c>method.name</c>.</summary>
    public TrainingMethod Method
    {
        get => TrainLocalCommand.ParseMethod(Config.Method.Name);
        init => Config = Config with { Method = Config.Method with { Name = value.ToString().ToLowerInvariant() } };
    }
    /// <summary>The <c>qst</c> section.</summary>
    public QstConfig Qst
    {
        get => QstConfig.From(Config.Qst);
        init => Config = Config with
        {
            Qst = new QstSection
            {
                R = value.R, AdapterBottleneck = value.AdapterBottleneck, Activation = value.Activation, LayerNormAfterAdapter = value.LayerNormAfterAdapter,
                LayerNormBeforeAdapter = value.LayerNormBeforeAdapter, AdapterDropout = value.AdapterDropout, TrainMergeGate = value.TrainMergeGate,
                ReversedMergeGate = value.ReversedMergeGate, Fp32MasterWeights = value.Fp32MasterWeights, GateInit = value.GateInit,
                MergeGateInit = value.MergeGateInit, SideHeads = value.SideHeads, SideScoresBf16 = value.SideScoresBf16,
            },
        };
    }
    /// <summary>The <c>optimizer</c> section.</summary>
    public OptimizerConfig Optimizer
    {
        get => OptimizerConfig.From(Config.Optimizer);
        init => Config = Config with
        {
            Optimizer = new OptimizerSection
            {
                LearningRate = value.LearningRate, Beta1 = value.Beta1, Beta2 = value.Beta2, Epsilon = value.Epsilon, WeightDecay = value.WeightDecay,
                MaxGradNorm = value.MaxGradNorm, LrSchedule = LrSchedule.KindName(value.Schedule), WarmupSteps = value.WarmupSteps,
            },
        };
    }
    /// <summary>The <c>schedule</c> section and <c>runtime.threads</c>.</summary>
    public TrainerConfig Trainer
    {
        get => TrainerConfig.From(Config);
        init => Config = Config with
        {
            Schedule = new ScheduleSection
            {
                Epochs = value.Epochs, MaxSteps = value.MaxSteps, MicroBatchSize = value.MicroBatchSize,
                GradientAccumulation = value.GradientAccumulation, Seed = value.Seed,
            },
            Runtime = Config.Runtime with { Threads = value.Threads },
        };
    }
    /// <summary><c>precision.dtype</c>.</summary>
    public string Dtype { get => Config.Precision.Dtype; init => Config = Config with { Precision = Config.Precision with { Dtype = value } }; }
    /// <summary><c>precision.double_quant</c>.</summary>
    public bool DoubleQuant { get => Config.Precision.DoubleQuant; init => Config = Config with { Precision = Config.Precision with { DoubleQuant = value } }; }
    /// <summary><c>method.lora_rank</c>.</summary>
    public int LoraRank { get => Config.Method.LoraRank; init => Config = Config with { Method = Config.Method with { LoraRank = value } }; }
    /// <summary><c>method.lora_alpha</c>.</summary>
    public double LoraAlpha { get => Config.Method.LoraAlpha; init => Config = Config with { Method = Config.Method with { LoraAlpha = value } }; }
    /// <summary><c>data.max_source_tokens</c>.</summary>
    public int MaxSourceTokens { get => Config.Data.MaxSourceTokens; init => Config = Config with { Data = Config.Data with { MaxSourceTokens = value } }; }
    /// <summary><c>data.max_target_tokens</c>.</summary>
    public int MaxTargetTokens { get => Config.Data.MaxTargetTokens; init => Config = Config with { Data = Config.Data with { MaxTargetTokens = value } }; }
    /// <summary><c>data.format</c>: auto, alpaca, chat, text or tokens.</summary>
    public string Format { get => Config.Data.Format; init => Config = Config with { Data = Config.Data with { Format = value } }; }
    /// <summary><c>data.max_length</c> (0 = source + target limits).</summary>
    public int MaxLength { get => Config.Data.MaxLength; init => Config = Config with { Data = Config.Data with { MaxLength = value } }; }
    /// <summary><c>data.pack</c>.</summary>
    public bool Pack { get => Config.Data.Pack; init => Config = Config with { Data = Config.Data with { Pack = value } }; }
    /// <summary><c>data.group_by_length</c>.</summary>
    public bool GroupByLength { get => Config.Data.GroupByLength; init => Config = Config with { Data = Config.Data with { GroupByLength = value } }; }
    /// <summary><c>data.skip_invalid</c>.</summary>
    public bool SkipInvalid { get => Config.Data.SkipInvalid; init => Config = Config with { Data = Config.Data with { SkipInvalid = value } }; }
    /// <summary><c>runtime.device</c>: cpu, cuda or cuda:N.</summary>
    public string Device { get => Config.Runtime.Device; init => Config = Config with { Runtime = Config.Runtime with { Device = value } }; }
    /// <summary><c>evaluation.every_steps</c> (0: only after the last step, when a set is given).</summary>
    public int EvalEvery { get => Config.Evaluation.EverySteps; init => Config = Config with { Evaluation = Config.Evaluation with { EverySteps = value } }; }
    /// <summary><c>evaluation.val_fraction</c> (0 = none).</summary>
    public double ValFraction { get => Config.Evaluation.ValFraction; init => Config = Config with { Evaluation = Config.Evaluation with { ValFraction = value } }; }

    /// <summary>The data options these settings describe.</summary>
    public DataOptions DataOptions() => DataPlan.Options(Config.Data);
}
