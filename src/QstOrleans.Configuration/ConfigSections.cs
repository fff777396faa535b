using Orleans;

namespace QstOrleans.Configuration;

// The sections of TrainingConfig. Each knob is declared here once, with its default; nothing else in the solution
// declares a default for it (the engine's records and the CLI read these).

/// <summary><c>method</c>: QST or a baseline (baselines run in <c>qst train-local</c> only).</summary>
[GenerateSerializer, Immutable]
public sealed record MethodSection
{
    /// <summary><c>method.name</c>: qst, lora, qlora or full.</summary>
    [Id(0)] public string Name { get; set; } = "qst";
    /// <summary><c>method.lora_rank</c>: LoRA rank of the lora/qlora baselines.</summary>
    [Id(1)] public int LoraRank { get; set; } = 8;
    /// <summary><c>method.lora_alpha</c>: LoRA scale numerator (scale = alpha / rank).</summary>
    [Id(2)] public double LoraAlpha { get; set; } = 16;
    /// <summary><c>method.gradient_checkpointing</c>: lora/qlora/full recompute each decoder layer's forward in backward
    /// (HF's gradient checkpointing: less activation memory, one more forward); QST trains no backbone layer, so it ignores it.</summary>
    [Id(3)] public bool GradientCheckpointing { get; set; }
}

/// <summary><c>data</c>: how the training file is read and cut into examples.</summary>
[GenerateSerializer, Immutable]
public sealed record DataSection
{
    /// <summary><c>data.format</c>: auto, alpaca, chat, text or tokens.</summary>
    [Id(0)] public string Format { get; set; } = "auto";
    /// <summary><c>data.max_source_tokens</c>: prompt tokens kept per example (reference 512).</summary>
    [Id(1)] public int MaxSourceTokens { get; set; } = 512;
    /// <summary><c>data.max_target_tokens</c>: response tokens kept per example (reference 512).</summary>
    [Id(2)] public int MaxTargetTokens { get; set; } = 512;
    /// <summary><c>data.max_length</c>: tokens per example and packing block size (0 = source + target limits).</summary>
    [Id(3)] public int MaxLength { get; set; }
    /// <summary><c>data.pack</c>: pack examples into blocks of exactly the maximum length.</summary>
    [Id(4)] public bool Pack { get; set; }
    /// <summary><c>data.group_by_length</c>: batch examples of similar length together (less padding).</summary>
    [Id(5)] public bool GroupByLength { get; set; }
    /// <summary><c>data.skip_invalid</c>: drop bad records (counted in the data report) instead of failing.</summary>
    [Id(6)] public bool SkipInvalid { get; set; }
    /// <summary><c>data.chat_template</c>: "" = the model's own chat_template, "alpaca" or a jinja/JSON file (as the silos see it).</summary>
    [Id(7)] public string ChatTemplate { get; set; } = "";
}

/// <summary><c>schedule</c>: how long the run trains and on what batch shape.</summary>
[GenerateSerializer, Immutable]
public sealed record ScheduleSection
{
    /// <summary><c>schedule.epochs</c>: passes over the data.</summary>
    [Id(0)] public int Epochs { get; set; } = 1;
    /// <summary><c>schedule.max_steps</c>: stop after this many optimizer steps (0 = all epochs).</summary>
    [Id(1)] public int MaxSteps { get; set; }
    /// <summary><c>schedule.micro_batch_size</c>: sequences per forward pass. 8 keeps the tiny-model commands fast;
    /// the reference 70B recipe (spec §7.1) is 1 × 16 accumulation (deploy/configs/qst-llama2-70b.json).</summary>
    [Id(2)] public int MicroBatchSize { get; set; } = 8;
    /// <summary><c>schedule.gradient_accumulation</c>: micro-batches per optimizer step.</summary>
    [Id(3)] public int GradientAccumulation { get; set; } = 1;
    /// <summary><c>schedule.seed</c>: seeds parameter init and data order.</summary>
    [Id(4)] public long Seed { get; set; }
}

/// <summary><c>optimizer</c>: AdamW, schedule and clipping; defaults are the QST recipe (spec §7.1).</summary>
[GenerateSerializer, Immutable]
public sealed record OptimizerSection
{
    /// <summary><c>optimizer.learning_rate</c>: peak learning rate (the reference scripts use 1e-4 for 7B+).</summary>
    [Id(0)] public double LearningRate { get; set; } = 1e-4;
    /// <summary><c>optimizer.beta1</c>: AdamW first-moment decay.</summary>
    [Id(1)] public double Beta1 { get; set; } = 0.9;
    /// <summary><c>optimizer.beta2</c>: AdamW second-moment decay.</summary>
    [Id(2)] public double Beta2 { get; set; } = 0.999;
    /// <summary><c>optimizer.epsilon</c>: AdamW denominator term.</summary>
    [Id(3)] public double Epsilon { get; set; } = 1e-8;
    /// <summary><c>optimizer.weight_decay</c>: decoupled weight decay.</summary>
    [Id(4)] public double WeightDecay { get; set; }
    /// <summary><c>optimizer.max_grad_norm</c>: global L2 norm limit over the trainable gradients (0 = no clipping).</summary>
    [Id(5)] public double MaxGradNorm { get; set; } = 0.3;
    /// <summary><c>optimizer.lr_schedule</c>: constant, constant_with_warmup, linear or cosine (HF semantics).</summary>
    [Id(6)] public string LrSchedule { get; set; } = "constant";
    /// <summary><c>optimizer.warmup_steps</c>: linear warmup steps (ignored by constant, as in HF).</summary>
    [Id(7)] public int WarmupSteps { get; set; }
    /// <summary><c>optimizer.non_finite</c>: what a NaN/infinite loss or gradient norm does. <c>fail</c>: the run stops with an
    /// error (bad input). <c>skip</c>: that step's update is not applied (weights and AdamW moments unchanged), a warning
    /// is logged and the step is reported as skipped; the step still counts (data and the lr schedule advance as if it
    /// had been applied), so step numbers, checkpoints and resume stay aligned with the data.</summary>
    [Id(8)] public string NonFinite { get; set; } = "fail";
}

/// <summary><c>qst</c>: the side network (spec §1, §5); defaults reproduce the reference code's behaviour.</summary>
[GenerateSerializer, Immutable]
public sealed record QstSection
{
    /// <summary><c>qst.r</c>: side reduction factor (side width d = H/r).</summary>
    [Id(0)] public int R { get; set; } = 16;
    /// <summary><c>qst.adapter_bottleneck</c>: adapter bottleneck p.</summary>
    [Id(1)] public int AdapterBottleneck { get; set; } = 16;
    /// <summary><c>qst.activation</c>: silu (the reference's swish), relu or gelu.</summary>
    [Id(2)] public string Activation { get; set; } = "silu";
    /// <summary><c>qst.layer_norm_after_adapter</c>: LayerNorm after each downsample adapter.</summary>
    [Id(3)] public bool LayerNormAfterAdapter { get; set; } = true;
    /// <summary><c>qst.layer_norm_before_adapter</c>: LayerNorm before each downsample adapter.</summary>
    [Id(4)] public bool LayerNormBeforeAdapter { get; set; }
    /// <summary><c>qst.adapter_dropout</c>: 0, as the reference's inverted test leaves it (quirk Q1).</summary>
    [Id(5)] public double AdapterDropout { get; set; }
    /// <summary><c>qst.train_merge_gate</c>: train lm_head_z (the reference never registers it, quirk Q3).</summary>
    [Id(6)] public bool TrainMergeGate { get; set; }
    /// <summary><c>qst.reversed_merge_gate</c>: the OPT reference's reversed merge f = a·U(ŝ) + (1−a)·ĥ (quirk Q4).</summary>
    [Id(7)] public bool ReversedMergeGate { get; set; }
    /// <summary><c>qst.fp32_master_weights</c>: keep side weights in fp32, cast per call (false = the reference's bf16, quirk Q7).</summary>
    [Id(8)] public bool Fp32MasterWeights { get; set; } = true;
    /// <summary><c>qst.gate_init</c>: raw init of each ladder gate z_i (σ(0.5) = 0.6225).</summary>
    [Id(9)] public float GateInit { get; set; } = 0.5f;
    /// <summary><c>qst.merge_gate_init</c>: raw init of the merge gate λ (σ(1.0) = 0.7311).</summary>
    [Id(10)] public float MergeGateInit { get; set; } = 1.0f;
    /// <summary><c>qst.side_heads</c>: attention heads of each side layer; 0 = the backbone's head counts (the reference's).
    /// Fewer heads shrink the side attention's [B, heads, T, T] scores, which dominate QST's activation memory at long T.</summary>
    [Id(11)] public int SideHeads { get; set; }
    /// <summary><c>qst.side_scores_bf16</c>: with a bf16 compute dtype, the side layers keep their attention scores in bf16
    /// through mask and softmax (the kernel accumulates in fp32 and rounds once) instead of an fp32 copy: 2 instead of 6 bytes
    /// saved per score, forward probabilities within one bf16 ulp of the fp32 path, gradients within bf16 rounding
    /// (SideAttention/Bf16ScoresTests). No effect in fp32. Since session 9 the scores are recomputed in
    /// backward instead of saved (Attention/RecomputedAttention), so this sets their dtype, not what a step keeps.</summary>
    [Id(12)] public bool SideScoresBf16 { get; set; } = true;
}

/// <summary><c>precision</c>: compute dtype and how the frozen backbone is stored.</summary>
[GenerateSerializer, Immutable]
public sealed record PrecisionSection
{
    /// <summary><c>precision.dtype</c>: matmul dtype, bf16 or fp32.</summary>
    [Id(0)] public string Dtype { get; set; } = "bf16";
    /// <summary><c>precision.backbone_format</c>: nf4, or bf16/fp32 (unquantized reference; distributed runs).</summary>
    [Id(1)] public string BackboneFormat { get; set; } = "nf4";
    /// <summary><c>precision.double_quant</c>: quantize the NF4 absmax again (bitsandbytes double quantization).</summary>
    [Id(2)] public bool DoubleQuant { get; set; } = true;
    /// <summary><c>precision.attention</c>: the attention kernel of every decoder layer (backbone, side network, baselines).
    /// recompute (default): the eager math under a node that saves only q, k, v and the mask and rebuilds the scores in
    /// backward; fused: libtorch's scaled-dot-product attention (less memory still, slower on CPU in bf16); eager: the
    /// scores saved (the most memory). Forward and loss of recompute are bitwise eager's; fused is within fp32 rounding.</summary>
    [Id(3)] public string Attention { get; set; } = "recompute";
}

/// <summary><c>pipeline</c>: how a distributed run is laid out (never changes the trained weights).</summary>
[GenerateSerializer, Immutable]
public sealed record PipelineSection
{
    /// <summary><c>pipeline.stages</c>: backbone stages, each on its own device slot.</summary>
    [Id(0)] public int Stages { get; set; } = 1;
    /// <summary><c>pipeline.window</c>: micro-batches in flight at once (bounds memory however long the epoch).</summary>
    [Id(1)] public int Window { get; set; } = 4;
    /// <summary><c>pipeline.taps</c>: what a stage sends the side trainer per layer. <c>lean</c>: the adapter's first
    /// projection U = W_A·x (p values per token; W_A lives and is optimized on the stage); <c>full</c>: the whole hidden
    /// state x (H values per token). The two differ only by rounding; each is bitwise the same single-process and distributed.</summary>
    [Id(2)] public string Taps { get; set; } = "lean";
}

/// <summary><c>checkpoint</c>: when a distributed run checkpoints its side network.</summary>
[GenerateSerializer, Immutable]
public sealed record CheckpointSection
{
    /// <summary><c>checkpoint.every_steps</c>: every this many optimizer steps (0 = never by steps).</summary>
    [Id(0)] public int EverySteps { get; set; } = 100;
    /// <summary><c>checkpoint.every_minutes</c>: at the first step boundary this many minutes after the last one (0 = never by time).</summary>
    [Id(1)] public double EveryMinutes { get; set; } = 10;
}

/// <summary><c>evaluation</c>: validation during a single-process run.</summary>
[GenerateSerializer, Immutable]
public sealed record EvaluationSection
{
    /// <summary><c>evaluation.every_steps</c>: evaluate every N optimizer steps (0 = only after the last step).</summary>
    [Id(0)] public int EverySteps { get; set; }
    /// <summary><c>evaluation.val_fraction</c>: fraction of the training file held out for validation (0 = none).</summary>
    [Id(1)] public double ValFraction { get; set; }
}

/// <summary><c>runtime</c>: where and how wide a single-process run computes (stage grains use their slots instead).</summary>
[GenerateSerializer, Immutable]
public sealed record RuntimeSection
{
    /// <summary><c>runtime.threads</c>: TorchSharp intra-op threads (fixed for reproducibility).</summary>
    [Id(0)] public int Threads { get; set; } = 2;
    /// <summary><c>runtime.device</c>: cpu, cuda or cuda:N.</summary>
    [Id(1)] public string Device { get; set; } = "cpu";
    /// <summary><c>runtime.allocator_tuning</c>: keep freed step buffers in glibc's heap (mallopt) so later steps reuse them instead
    /// of page-faulting fresh memory; the process's RSS then does not shrink after a peak. Process-wide, so it applies to
    /// train-local and the in-process cluster of train --local; a silo's comes from <c>Qst:AllocatorTuning</c>.</summary>
    [Id(2)] public bool AllocatorTuning { get; set; } = true;
}
