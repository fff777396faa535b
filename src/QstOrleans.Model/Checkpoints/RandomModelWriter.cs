using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.SafeTensors;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Checkpoints;

/// <summary>
/// Writes a complete Hugging Face-format model directory (config.json + model.safetensors, bf16) with
/// seeded random weights, using transformers' init (linears and embeddings ~ N(0, 0.02), norms = 1).
/// The project's embedded default model is made this way; no download is ever needed.
/// </summary>
public static class RandomModelWriter
{
    public static void Write(string directory, ModelConfig config, long seed, long maxShardBytes = 2L << 30)
    {
        Directory.CreateDirectory(directory);
        config.Save(Path.Combine(directory, "config.json"));
        ShardedCheckpointWriter.Write(directory, Tensors(config, seed), maxShardBytes,
            new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>The model's tensors in HF naming, generated lazily one at a time (each is written then dropped).</summary>
    public static IEnumerable<(string Name, Tensor Tensor)> Tensors(ModelConfig c, long seed)
    {
        if (c.Architecture != ModelArchitecture.Llama)
            throw new NotSupportedException("random model generation is implemented for Llama shapes only");
        var names = TensorNames.For(c.Architecture);
        using var g = new Generator((ulong)seed);
        Tensor Normal(params long[] shape) => (randn(shape, generator: g) * 0.02f).to(ScalarType.BFloat16);
        Tensor Ones(long n) => ones(n, dtype: ScalarType.BFloat16);

        yield return (names.Embedding, Normal(c.VocabSize, c.HiddenSize));
        for (int i = 0; i < c.NumLayers; i++)
        {
            string p = names.Layer(i);
            yield return (p + "input_layernorm.weight", Ones(c.HiddenSize));
            yield return (p + "self_attn.q_proj.weight", Normal(c.QDim, c.HiddenSize));
            yield return (p + "self_attn.k_proj.weight", Normal(c.KvDim, c.HiddenSize));
            yield return (p + "self_attn.v_proj.weight", Normal(c.KvDim, c.HiddenSize));
            yield return (p + "self_attn.o_proj.weight", Normal(c.HiddenSize, c.QDim));
            yield return (p + "post_attention_layernorm.weight", Ones(c.HiddenSize));
            yield return (p + "mlp.gate_proj.weight", Normal(c.IntermediateSize, c.HiddenSize));
            yield return (p + "mlp.up_proj.weight", Normal(c.IntermediateSize, c.HiddenSize));
            yield return (p + "mlp.down_proj.weight", Normal(c.HiddenSize, c.IntermediateSize));
        }
        yield return (names.FinalNorm + ".weight", Ones(c.HiddenSize));
        if (!c.TieWordEmbeddings) yield return (names.LmHead, Normal(c.VocabSize, c.HiddenSize));
    }
}
