using QstOrleans.Model.Config;

namespace QstOrleans.Cli.Bench;

/// <summary>The model shapes the benchmark trains here, each with the batch and sequence length it uses.</summary>
internal sealed record BenchModel(ModelConfig Config, int Batch, int Sequence, int WarmupSteps, int Steps)
{
    public string Name => Config.Name;

    /// <summary>tiny: the embedded default (H 256, 4 layers, vocab 512).</summary>
    public static BenchModel Tiny => new(ModelPresets.Get("tiny"), 8, 128, 1, 4);

    /// <summary>
    /// A ~134 M-parameter Llama shape (H 768, I 2048, 12 layers, 12 heads, vocab 32000; GPT-2-small-like):
    /// full fine-tuning (fp32 weights + gradients + AdamW ≈ 2.1 GB) still takes seconds per step on a shared
    /// 2-core box, so this is the largest that keeps the whole table within minutes. The vocabulary is
    /// Llama-2's, so logits weigh as they do at scale.
    /// </summary>
    public static BenchModel Medium => new(ModelPresets.Get("llama-134m"), 4, 128, 1, 8);

    /// <summary>The 1B class (TinyLlama-1.1B's shape: H 2048, I 5632, 22 layers, 32 heads / 4 kv heads, vocab 32000), batch
    /// 1 × 256: minutes per method on 2 cores, so it is not in the default set (<c>--models large</c>).</summary>
    public static BenchModel Large => new(ModelPresets.Get("llama-1b"), 1, 256, 1, 8);

    public static BenchModel Parse(string name) => name switch
    {
        "tiny" => Tiny,
        "medium" or "llama-134m" => Medium,
        "large" or "llama-1b" => Large,
        _ => throw new ArgumentException($"--models: unknown model '{name}' (tiny, medium, large)"),
    };
}
