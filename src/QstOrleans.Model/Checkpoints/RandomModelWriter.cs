using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.SafeTensors;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Checkpoints;

/// <summary>
/// Writes a complete Hugging Face-format model directory (config.json + model.safetensors, bf16) with
/// seeded random weights (Llama or pre-norm OPT), using transformers' init (linears and embeddings ~ N(0, 0.02), norms = 1).
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
        var names = TensorNames.For(c.Architecture);
        using var g = new Generator((ulong)seed);
        using Scalar std = 0.02f;   // owned: see Tensors.Scalars
        Tensor Normal(params long[] shape) => randn(shape, generator: g).mul(std).to(ScalarType.BFloat16);
        Tensor Ones(long n) => ones(n, dtype: ScalarType.BFloat16);
        if (c.Architecture == ModelArchitecture.Opt)
        {
            foreach (var t in OptTensors(c, names, Normal, Ones)) yield return t;
            yield break;
        }

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

    /// <summary>OPT (pre-norm, word_embed_proj_dim = hidden): learned positions (offset 2), biases, LayerNorms.</summary>
    static IEnumerable<(string Name, Tensor Tensor)> OptTensors(ModelConfig c, TensorNames names, Func<long[], Tensor> normal, Func<long, Tensor> ones)
    {
        if (c.WordEmbedProjDim != c.HiddenSize)
            throw new NotSupportedException("random OPT models with project_in/project_out are not generated");
        long h = c.HiddenSize, i = c.IntermediateSize;
        Tensor Zeros(long n) => zeros(n, dtype: ScalarType.BFloat16);
        yield return (names.Embedding, normal([c.VocabSize, h]));
        yield return (names.Positions, normal([c.MaxPositionEmbeddings + ModelConfig.OptPositionOffset, h]));
        for (int l = 0; l < c.NumLayers; l++)
        {
            string p = names.Layer(l);
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                yield return ($"{p}self_attn.{proj}.weight", normal([h, h]));
                yield return ($"{p}self_attn.{proj}.bias", normal([h]));
            }
            yield return (p + "self_attn_layer_norm.weight", ones(h));
            yield return (p + "self_attn_layer_norm.bias", Zeros(h));
            yield return (p + "fc1.weight", normal([i, h]));
            yield return (p + "fc1.bias", normal([i]));
            yield return (p + "fc2.weight", normal([h, i]));
            yield return (p + "fc2.bias", normal([h]));
            yield return (p + "final_layer_norm.weight", ones(h));
            yield return (p + "final_layer_norm.bias", Zeros(h));
        }
        yield return (names.FinalNorm + ".weight", ones(h));
        yield return (names.FinalNorm + ".bias", Zeros(h));
        if (!c.TieWordEmbeddings) yield return (names.LmHead, normal([c.VocabSize, h]));
    }
}
