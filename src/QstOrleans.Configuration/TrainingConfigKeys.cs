using System.Text.Json;

namespace QstOrleans.Configuration;

/// <summary>
/// The command-line option of each config key that has one (the CLI builds its training options from this table and
/// shows the default read from <see cref="TrainingConfig.Defaults"/>; validation messages name both).
/// </summary>
public static class TrainingConfigKeys
{
    /// <summary>One overridable key: its option name and help text.</summary>
    public sealed record Entry(string Key, string Option, string Description);

    /// <summary>Every key with a command-line option, in help order.</summary>
    public static IReadOnlyList<Entry> All { get; } =
    [
        new("method.name", "--method", "qst, lora, qlora or full (train-local)"),
        new("method.lora_rank", "--lora-r", "LoRA rank of the baselines"),
        new("method.lora_alpha", "--lora-alpha", "LoRA alpha of the baselines"),
        new("method.gradient_checkpointing", "--gradient-checkpointing", "lora, qlora, full: recompute each decoder layer's forward in backward (less memory)"),
        new("data.format", "--format", "Dataset format: auto, alpaca, chat, text, tokens"),
        new("data.max_length", "--max-length", "Tokens per example and packing block size (0 = max-source + max-target)"),
        new("data.pack", "--pack", "Pack examples into blocks of exactly --max-length tokens"),
        new("data.group_by_length", "--group-by-length", "Batch examples of similar length together (less padding)"),
        new("data.skip_invalid", "--skip-invalid", "Drop bad records (counted in the data report) instead of failing"),
        new("data.max_source_tokens", "--max-source-tokens", "Prompt tokens kept per example"),
        new("data.max_target_tokens", "--max-target-tokens", "Response tokens kept per example"),
        new("data.chat_template", "--chat-template", "Template of chat records: \"\" = the model's own chat_template, alpaca, or a jinja/JSON file"),
        new("schedule.epochs", "--epochs", "Passes over the data"),
        new("schedule.max_steps", "--max-steps", "Stop after N optimizer steps (0 = all epochs)"),
        new("schedule.micro_batch_size", "--micro-batch-size", "Sequences per forward pass"),
        new("schedule.gradient_accumulation", "--grad-accum", "Micro-batches per optimizer step"),
        new("schedule.seed", "--seed", "Seeds parameter init and data order"),
        new("optimizer.learning_rate", "--lr", "Peak learning rate"),
        new("optimizer.lr_schedule", "--schedule", "constant, constant_with_warmup, linear, cosine"),
        new("optimizer.warmup_steps", "--warmup-steps", "Linear warmup steps"),
        new("optimizer.max_grad_norm", "--max-grad-norm", "Global gradient-norm clip (0 disables clipping)"),
        new("optimizer.weight_decay", "--weight-decay", "AdamW decoupled weight decay"),
        new("optimizer.non_finite", "--non-finite", "A NaN/infinite loss or gradient: fail (stop with an error) or skip (drop that step's update, warn, go on)"),
        new("qst.r", "--r", "QST side reduction factor (d = H/r)"),
        new("qst.adapter_bottleneck", "--adapter-dim", "QST adapter bottleneck p"),
        new("qst.train_merge_gate", "--train-merge-gate", "Train lm_head_z (the reference never does)"),
        new("qst.side_heads", "--side-heads", "QST side attention heads (0 = the backbone's; fewer = less attention memory; plain multi-head)"),
        new("qst.side_scores_bf16", "--side-scores-bf16", "QST side attention scores stay bf16 through mask and softmax (bf16 compute only; less attention memory)"),
        new("precision.dtype", "--dtype", "Compute dtype: bf16 or fp32"),
        new("precision.double_quant", "--double-quant", "Double-quantize the NF4 absmax"),
        new("precision.backbone_format", "--backbone", "Backbone weights: nf4, bf16 or fp32 (train)"),
        new("precision.attention", "--attention", "Attention kernel: recompute (scores rebuilt in backward, not saved), fused (libtorch SDPA; least memory, slower on CPU) or eager (scores saved)"),
        new("pipeline.stages", "--stages", "Backbone stages, each on its own device slot (train)"),
        new("pipeline.window", "--window", "Micro-batches in flight at once (train)"),
        new("pipeline.taps", "--taps", "What stages send the side trainer: lean (U = W_A·x, p values per token) or full (hidden states)"),
        new("checkpoint.every_steps", "--checkpoint-every", "Checkpoint every N optimizer steps (0 = off) (train)"),
        new("checkpoint.every_minutes", "--checkpoint-minutes", "Checkpoint at the first step after M minutes (0 = off) (train)"),
        new("evaluation.every_steps", "--eval-every", "Evaluate every N steps (0 = after the last step only)"),
        new("evaluation.val_fraction", "--val-fraction", "Hold out this fraction of the training file for validation"),
        new("runtime.threads", "--threads", "TorchSharp intra-op threads (train-local; a silo's come from Qst:Threads)"),
        new("runtime.device", "--device", "cpu, cuda or cuda:N (train --local: the slots' device)"),
        new("runtime.allocator_tuning", "--allocator-tuning", "Keep freed step buffers in glibc's heap: fewer page faults, RSS does not shrink after a peak (train-local, train --local; a silo's come from Qst:AllocatorTuning)"),
    ];

    /// <summary>The CLR type of the value at <paramref name="key"/> (e.g. <c>double</c> for <c>optimizer.learning_rate</c>).</summary>
    /// <exception cref="ArgumentException">No such key.</exception>
    public static Type TypeOf(string key)
    {
        var type = typeof(TrainingConfig);
        foreach (var part in key.Split('.'))
            type = type.GetProperties().FirstOrDefault(p => p.CanWrite && JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name) == part)?.PropertyType
                   ?? throw new ArgumentException($"unknown config key '{key}'");
        return type;
    }

    /// <summary>The option that sets <paramref name="key"/>, or null.</summary>
    public static string? Option(string key) => All.FirstOrDefault(e => e.Key == key)?.Option;
}
