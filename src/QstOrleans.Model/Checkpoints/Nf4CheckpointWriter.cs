using System.Text.Json.Nodes;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.Quantization;
using QstOrleans.Model.SafeTensors;
using static TorchSharp.torch;

namespace QstOrleans.Model.Checkpoints;

/// <summary>
/// Quantize once, load fast: rewrites a model directory with every decoder-layer Linear weight in
/// NF4, in the layout Hugging Face uses for bitsandbytes 4-bit checkpoints (spec §9.7), and everything
/// else (embeddings, norms, LM head, biases) unchanged. config.json gains a <c>quantization_config</c>
/// block like transformers writes; tokenizer and generation files are copied. Tensors are streamed one
/// at a time.
/// </summary>
public static class Nf4CheckpointWriter
{
    public static void Write(string sourceDirectory, string outputDirectory, bool doubleQuant, long maxShardBytes = 2L << 30)
    {
        var config = ModelConfig.Load(sourceDirectory);
        Directory.CreateDirectory(outputDirectory);
        using (var reader = CheckpointReader.Open(sourceDirectory))
        {
            ShardedCheckpointWriter.Write(outputDirectory, Entries(reader, config, doubleQuant), maxShardBytes,
                new Dictionary<string, string> { ["format"] = "pt", ["quantization"] = doubleQuant ? "nf4+dq" : "nf4" });
        }
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(sourceDirectory, "config.json")))!.AsObject();
        json["quantization_config"] = new JsonObject
        {
            ["quant_method"] = "bitsandbytes",
            ["load_in_4bit"] = true,
            ["load_in_8bit"] = false,
            ["bnb_4bit_quant_type"] = "nf4",
            ["bnb_4bit_use_double_quant"] = doubleQuant,
            ["bnb_4bit_compute_dtype"] = "bfloat16",
            ["bnb_4bit_quant_storage"] = "uint8",
        };
        File.WriteAllText(Path.Combine(outputDirectory, "config.json"), json.ToJsonString(new() { WriteIndented = true }));
        foreach (var file in Directory.EnumerateFiles(sourceDirectory))
        {
            string name = Path.GetFileName(file);
            if (name.StartsWith("tokenizer", StringComparison.Ordinal) || name is "generation_config.json" or "special_tokens_map.json")
                File.Copy(file, Path.Combine(outputDirectory, name), overwrite: true);
        }
    }

    static IEnumerable<(string Name, Tensor Tensor)> Entries(CheckpointReader reader, ModelConfig config, bool doubleQuant)
    {
        var names = TensorNames.Resolve(config, reader.Contains);
        foreach (var name in reader.TensorNames.OrderBy(n => n, StringComparer.Ordinal))
        {
            bool decoderLinear = name.EndsWith(".weight", StringComparison.Ordinal) && IsDecoderLinear(name, names, config);
            if (!decoderLinear || BnbNf4Format.IsQuantized(name[..^".weight".Length], reader.Contains))
            {
                yield return (name, reader.ReadTensor(name));
                continue;
            }
            using var dense = reader.ReadTensor(name);
            using var q = Nf4Quantizer.Quantize(dense, doubleQuant);
            foreach (var entry in BnbNf4Format.ToEntries(name[..^".weight".Length], q)) yield return entry;
        }
    }

    static bool IsDecoderLinear(string name, TensorNames names, ModelConfig config)
    {
        for (int i = 0; i < config.NumLayers; i++)
        {
            string p = names.Layer(i);
            if (!name.StartsWith(p, StringComparison.Ordinal)) continue;
            string rest = name[p.Length..];
            return rest is "self_attn.q_proj.weight" or "self_attn.k_proj.weight" or "self_attn.v_proj.weight"
                or "self_attn.o_proj.weight" or "self_attn.out_proj.weight" or "mlp.gate_proj.weight"
                or "mlp.up_proj.weight" or "mlp.down_proj.weight" or "fc1.weight" or "fc2.weight";
        }
        return false;
    }
}
