namespace QstOrleans.Configuration;

/// <summary>
/// The one place every <see cref="TrainingConfig"/> value is checked. Messages name the key as written in a config
/// file (<c>optimizer.learning_rate must be &gt; 0, got -1</c>). Checks that need the model (e.g. <c>qst.r</c> divides
/// the hidden size) stay with the engine's <c>QstConfig.Validate(model)</c>.
/// </summary>
internal static class TrainingConfigValidation
{
    static readonly string[] Methods = ["qst", "lora", "qlora", "full"];
    static readonly string[] Formats = ["auto", "alpaca", "chat", "sharegpt", "openai", "text", "tokens", "pretokenized", "pre-tokenized"];
    static readonly string[] Schedules = ["constant", "constant_with_warmup", "linear", "cosine"];
    static readonly string[] Dtypes = ["bf16", "bfloat16", "fp32", "float32"];
    static readonly string[] TapModes = ["lean", "full"];
    static readonly string[] NonFinitePolicies = ["fail", "skip"];
    static readonly string[] BackboneFormats = ["nf4", "bf16", "bfloat16", "fp32", "float32"];
    static readonly string[] AttentionKernels = ["recompute", "fused", "eager"];
    static readonly string[] Activations = ["silu", "swish", "relu", "gelu"];

    public static void Check(TrainingConfig c)
    {
        OneOf("method.name", c.Method.Name, Methods);
        AtLeast("method.lora_rank", c.Method.LoraRank, 1);
        Require(c.Method.LoraAlpha > 0, "method.lora_alpha must be > 0", c.Method.LoraAlpha);

        OneOf("data.format", c.Data.Format, Formats);
        AtLeast("data.max_source_tokens", c.Data.MaxSourceTokens, 1);
        AtLeast("data.max_target_tokens", c.Data.MaxTargetTokens, 1);
        AtLeast("data.max_length", c.Data.MaxLength, 0);

        AtLeast("schedule.epochs", c.Schedule.Epochs, 1);
        AtLeast("schedule.max_steps", c.Schedule.MaxSteps, 0);
        AtLeast("schedule.micro_batch_size", c.Schedule.MicroBatchSize, 1);
        AtLeast("schedule.gradient_accumulation", c.Schedule.GradientAccumulation, 1);

        var o = c.Optimizer;
        Require(o.LearningRate > 0 && double.IsFinite(o.LearningRate), "optimizer.learning_rate must be > 0", o.LearningRate);
        Require(o.Beta1 is >= 0 and < 1, "optimizer.beta1 must be in [0, 1)", o.Beta1);
        Require(o.Beta2 is >= 0 and < 1, "optimizer.beta2 must be in [0, 1)", o.Beta2);
        Require(o.Epsilon > 0, "optimizer.epsilon must be > 0", o.Epsilon);
        Require(o.WeightDecay >= 0, "optimizer.weight_decay must be >= 0", o.WeightDecay);
        Require(o.MaxGradNorm >= 0, "optimizer.max_grad_norm must be >= 0 (0 = no clipping)", o.MaxGradNorm);
        OneOf("optimizer.lr_schedule", o.LrSchedule, Schedules);
        AtLeast("optimizer.warmup_steps", o.WarmupSteps, 0);
        OneOf("optimizer.non_finite", o.NonFinite, NonFinitePolicies);

        AtLeast("qst.r", c.Qst.R, 1);
        AtLeast("qst.adapter_bottleneck", c.Qst.AdapterBottleneck, 1);
        AtLeast("qst.side_heads", c.Qst.SideHeads, 0);
        OneOf("qst.activation", c.Qst.Activation, Activations);
        Require(c.Qst.AdapterDropout is >= 0 and < 1, "qst.adapter_dropout must be in [0, 1)", c.Qst.AdapterDropout);

        OneOf("precision.dtype", c.Precision.Dtype, Dtypes);
        OneOf("precision.backbone_format", c.Precision.BackboneFormat, BackboneFormats);
        OneOf("precision.attention", c.Precision.Attention, AttentionKernels);

        AtLeast("pipeline.stages", c.Pipeline.Stages, 1);
        AtLeast("pipeline.window", c.Pipeline.Window, 1);
        OneOf("pipeline.taps", c.Pipeline.Taps, TapModes);

        AtLeast("checkpoint.every_steps", c.Checkpoint.EverySteps, 0);
        Require(c.Checkpoint.EveryMinutes >= 0, "checkpoint.every_minutes must be >= 0 (0 = off)", c.Checkpoint.EveryMinutes);

        AtLeast("evaluation.every_steps", c.Evaluation.EverySteps, 0);
        Require(c.Evaluation.ValFraction is >= 0 and < 1, "evaluation.val_fraction must be in [0, 1)", c.Evaluation.ValFraction);

        AtLeast("runtime.threads", c.Runtime.Threads, 1);
        // runtime.device is parsed (and refused with the option's name) where the device is opened: it needs TorchSharp.
    }

    static void Require(bool ok, string what, double value)
    {
        // NaN fails every comparison above, so it lands here too.
        if (!ok)
        {
            int space = what.IndexOf(' ');
            throw new ArgumentException(FormattableString.Invariant($"{Named(what[..space])}{what[space..]}, got {value}"));
        }
    }

    /// <summary>The key, plus the command-line option that sets it (users of the CLI know that name).</summary>
    static string Named(string key) => TrainingConfigKeys.Option(key) is { } option ? $"{key} ({option})" : key;

    static void AtLeast(string key, long value, long min)
    {
        if (value < min) throw new ArgumentException($"{Named(key)} must be >= {min}, got {value}");
    }

    static void OneOf(string key, string value, string[] allowed)
    {
        if (value is null || !allowed.Contains(value.ToLowerInvariant().Replace('-', '_')) && !allowed.Contains(value.ToLowerInvariant()))
            throw new ArgumentException($"{Named(key)} must be one of {string.Join(", ", allowed)}, got '{value}'");
    }
}
