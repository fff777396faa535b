namespace QstOrleans.Model.Config;

/// <summary>
/// Named shapes: <c>tiny</c> (the embedded default, trains on a 2-core CPU), the benchmark shapes <c>llama-134m</c> and
/// <c>llama-1b</c>, and the Llama-2 7B/13B/70B shapes (config only: used for shape checks and parameter counts, never allocated).
/// </summary>
public static class ModelPresets
{
    public static IReadOnlyList<string> Names { get; } = ["tiny", "llama-134m", "llama-1b", "llama2-7b", "llama2-13b", "llama2-70b"];

    /// <summary>The presets <c>qst make-model</c> writes with seeded random weights (the Llama-2 shapes are config only).</summary>
    public static IReadOnlyList<string> WithWeights { get; } = ["tiny", "llama-134m", "llama-1b"];

    /// <summary>The preset's shape. <paramref name="vocabSize"/> overrides the vocabulary (the tiny
    /// model takes the size of the tokenizer made for it).</summary>
    public static ModelConfig Get(string name, int? vocabSize = null) => name switch
    {
        // Small enough to train on 2 cores in minutes; GQA on (4 heads share 2 kv heads) so the
        // grouped path is exercised by every run. With the reference r = 16 the side width is 16.
        "tiny" => new ModelConfig
        {
            Name = "tiny", VocabSize = vocabSize ?? 512, HiddenSize = 256, IntermediateSize = 688, NumLayers = 4,
            NumHeads = 4, NumKeyValueHeads = 2, HeadDim = 64, NormEps = 1e-5, RopeTheta = 10000,
            MaxPositionEmbeddings = 512, BosTokenId = 1, EosTokenId = 2, PadTokenId = 0,
        },
        // The benchmark shapes (qst bench): GPT-2-small-like at 134 M, and TinyLlama-1.1B's shape (GQA 32/4) as the
        // 1B class; both with Llama-2's 32000-token vocabulary, so the logits weigh as they do at scale.
        "llama-134m" => Llama2("llama-134m", 768, 2048, 12, 12, 12) with { MaxPositionEmbeddings = 2048 },
        "llama-1b" => Llama2("llama-1b", 2048, 5632, 22, 32, 4) with { MaxPositionEmbeddings = 2048 },
        "llama2-7b" => Llama2("llama2-7b", 4096, 11008, 32, 32, 32),
        "llama2-13b" => Llama2("llama2-13b", 5120, 13824, 40, 40, 40),
        "llama2-70b" => Llama2("llama2-70b", 8192, 28672, 80, 64, 8),
        _ => throw new ArgumentException($"unknown preset '{name}' (known: {string.Join(", ", Names)})", nameof(name)),
    };

    static ModelConfig Llama2(string name, int h, int i, int n, int heads, int kv) => new()
    {
        Name = name, VocabSize = 32000, HiddenSize = h, IntermediateSize = i, NumLayers = n, NumHeads = heads,
        NumKeyValueHeads = kv, HeadDim = h / heads, NormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 4096,
    };
}
