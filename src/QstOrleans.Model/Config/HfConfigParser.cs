using System.Text.Json.Nodes;

namespace QstOrleans.Model.Config;

/// <summary>
/// Maps the fields of a Hugging Face <c>config.json</c> to <see cref="ModelConfig"/>.
/// Defaults follow transformers: <c>num_key_value_heads</c> = heads, <c>rope_theta</c> = 10000,
/// <c>head_dim</c> = hidden / heads, <c>tie_word_embeddings</c> false for Llama and true for OPT.
/// </summary>
internal static class HfConfigParser
{
    public static ModelConfig Parse(JsonObject root, string file, string name)
    {
        string modelType = GetString(root, "model_type", file) ?? "llama";
        return modelType switch
        {
            "llama" => ParseLlama(root, file, name),
            "opt" => ParseOpt(root, file, name),
            _ => throw new ModelConfigException(file, "model_type", $"'{modelType}' is not supported (llama, opt)"),
        };
    }

    static ModelConfig ParseLlama(JsonObject root, string file, string name)
    {
        int hidden = RequireInt(root, "hidden_size", file);
        int heads = RequireInt(root, "num_attention_heads", file);
        RopeScaling? scaling = null;
        // transformers < 5 writes rope_theta + rope_scaling; transformers 5 writes one rope_parameters object holding
        // rope_theta, rope_type ("default" = no scaling) and the scaling fields.
        string ropeKey = root["rope_parameters"] is JsonObject ? "rope_parameters" : "rope_scaling";
        var ropeParameters = root["rope_parameters"] as JsonObject;
        if (root[ropeKey] is JsonObject rs)
        {
            string type = GetString(rs, "rope_type", file) ?? GetString(rs, "type", file)
                          ?? (ropeParameters is not null ? "default" : throw new ModelConfigException(file, "rope_scaling.rope_type", "is missing"));
            if (type is not ("llama3" or "linear" or "default"))
                throw new ModelConfigException(file, ropeKey, $"type '{type}' is not supported (llama3, linear)");
            scaling = type == "default" ? null : new RopeScaling(type,
                GetDouble(rs, "factor", file) ?? throw new ModelConfigException(file, $"{ropeKey}.factor", "is missing"),
                GetDouble(rs, "low_freq_factor", file) ?? 1.0,
                GetDouble(rs, "high_freq_factor", file) ?? 4.0,
                GetInt(rs, "original_max_position_embeddings", file) ?? 8192);
        }
        return new ModelConfig
        {
            Architecture = ModelArchitecture.Llama,
            Name = name,
            VocabSize = RequireInt(root, "vocab_size", file),
            HiddenSize = hidden,
            IntermediateSize = RequireInt(root, "intermediate_size", file),
            NumLayers = RequireInt(root, "num_hidden_layers", file),
            NumHeads = heads,
            NumKeyValueHeads = GetInt(root, "num_key_value_heads", file) ?? heads,
            HeadDim = GetInt(root, "head_dim", file) ?? (heads > 0 ? hidden / heads : 0),
            NormEps = GetDouble(root, "rms_norm_eps", file) ?? 1e-6,
            RopeTheta = GetDouble(root, "rope_theta", file) ?? (ropeParameters is null ? null : GetDouble(ropeParameters, "rope_theta", file)) ?? 10000.0,
            RopeScaling = scaling,
            MaxPositionEmbeddings = GetInt(root, "max_position_embeddings", file) ?? 2048,
            TieWordEmbeddings = GetBool(root, "tie_word_embeddings", file) ?? false,
            BosTokenId = FirstInt(root, "bos_token_id", file) ?? 1,
            EosTokenId = FirstInt(root, "eos_token_id", file) ?? 2,
            PadTokenId = FirstInt(root, "pad_token_id", file),
            HiddenAct = GetString(root, "hidden_act", file) ?? "silu",
        }.Validate(file);
    }

    static ModelConfig ParseOpt(JsonObject root, string file, string name)
    {
        int hidden = RequireInt(root, "hidden_size", file);
        int heads = RequireInt(root, "num_attention_heads", file);
        if (GetBool(root, "do_layer_norm_before", file) == false)
            throw new ModelConfigException(file, "do_layer_norm_before", "false (post-norm OPT-350m) is not supported");
        return new ModelConfig
        {
            Architecture = ModelArchitecture.Opt,
            Name = name,
            VocabSize = RequireInt(root, "vocab_size", file),
            HiddenSize = hidden,
            IntermediateSize = RequireInt(root, "ffn_dim", file),
            NumLayers = RequireInt(root, "num_hidden_layers", file),
            NumHeads = heads,
            NumKeyValueHeads = heads,
            HeadDim = heads > 0 ? hidden / heads : 0,
            NormEps = 1e-5,
            MaxPositionEmbeddings = GetInt(root, "max_position_embeddings", file) ?? 2048,
            TieWordEmbeddings = GetBool(root, "tie_word_embeddings", file) ?? true,
            BosTokenId = FirstInt(root, "bos_token_id", file) ?? 2,
            EosTokenId = FirstInt(root, "eos_token_id", file) ?? 2,
            PadTokenId = FirstInt(root, "pad_token_id", file) ?? 1,
            HiddenAct = GetString(root, "activation_function", file) ?? "relu",
            WordEmbedProjDim = GetInt(root, "word_embed_proj_dim", file) ?? hidden,
            EnableBias = GetBool(root, "enable_bias", file) ?? true,
        }.Validate(file);
    }

    public static JsonObject ToJson(ModelConfig c)
    {
        if (c.Architecture == ModelArchitecture.Opt)
        {
            return new JsonObject
            {
                ["architectures"] = new JsonArray("OPTForCausalLM"),
                ["model_type"] = "opt",
                ["vocab_size"] = c.VocabSize,
                ["hidden_size"] = c.HiddenSize,
                ["ffn_dim"] = c.IntermediateSize,
                ["num_hidden_layers"] = c.NumLayers,
                ["num_attention_heads"] = c.NumHeads,
                ["max_position_embeddings"] = c.MaxPositionEmbeddings,
                ["word_embed_proj_dim"] = c.WordEmbedProjDim,
                ["do_layer_norm_before"] = true,
                ["activation_function"] = c.HiddenAct,
                ["enable_bias"] = c.EnableBias,
                ["tie_word_embeddings"] = c.TieWordEmbeddings,
                ["bos_token_id"] = c.BosTokenId,
                ["eos_token_id"] = c.EosTokenId,
                ["pad_token_id"] = c.PadTokenId ?? 1,
                ["torch_dtype"] = "bfloat16",
            };
        }
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["vocab_size"] = c.VocabSize,
            ["hidden_size"] = c.HiddenSize,
            ["intermediate_size"] = c.IntermediateSize,
            ["num_hidden_layers"] = c.NumLayers,
            ["num_attention_heads"] = c.NumHeads,
            ["num_key_value_heads"] = c.NumKeyValueHeads,
            ["head_dim"] = c.HeadDim,
            ["rms_norm_eps"] = c.NormEps,
            ["rope_theta"] = c.RopeTheta,
            ["rope_scaling"] = c.RopeScaling is null ? null : new JsonObject
            {
                ["rope_type"] = c.RopeScaling.Type,
                ["factor"] = c.RopeScaling.Factor,
                ["low_freq_factor"] = c.RopeScaling.LowFreqFactor,
                ["high_freq_factor"] = c.RopeScaling.HighFreqFactor,
                ["original_max_position_embeddings"] = c.RopeScaling.OriginalMaxPositionEmbeddings,
            },
            ["max_position_embeddings"] = c.MaxPositionEmbeddings,
            ["tie_word_embeddings"] = c.TieWordEmbeddings,
            ["hidden_act"] = c.HiddenAct,
            ["bos_token_id"] = c.BosTokenId,
            ["eos_token_id"] = c.EosTokenId,
            ["torch_dtype"] = "bfloat16",
        };
        if (c.PadTokenId is int pad) o["pad_token_id"] = pad;
        return o;
    }

    static int RequireInt(JsonObject o, string field, string file) =>
        GetInt(o, field, file) ?? throw new ModelConfigException(file, field, "is missing");

    static int? GetInt(JsonObject o, string field, string file)
    {
        if (!o.TryGetPropertyValue(field, out var n) || n is null) return null;
        try { return n.GetValue<int>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        { throw new ModelConfigException(file, field, $"must be an integer, got {n.ToJsonString()}"); }
    }

    /// <summary>An int, or the first element of an int array (Llama 3 lists several eos ids).</summary>
    static int? FirstInt(JsonObject o, string field, string file) =>
        o[field] is JsonArray a ? (a.Count == 0 ? null : a[0]!.GetValue<int>()) : GetInt(o, field, file);

    static double? GetDouble(JsonObject o, string field, string file)
    {
        if (!o.TryGetPropertyValue(field, out var n) || n is null) return null;
        try { return n.GetValue<double>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        { throw new ModelConfigException(file, field, $"must be a number, got {n.ToJsonString()}"); }
    }

    static bool? GetBool(JsonObject o, string field, string file)
    {
        if (!o.TryGetPropertyValue(field, out var n) || n is null) return null;
        try { return n.GetValue<bool>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        { throw new ModelConfigException(file, field, $"must be true or false, got {n.ToJsonString()}"); }
    }

    static string? GetString(JsonObject o, string field, string file)
    {
        if (!o.TryGetPropertyValue(field, out var n) || n is null) return null;
        try { return n.GetValue<string>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        { throw new ModelConfigException(file, field, $"must be a string, got {n.ToJsonString()}"); }
    }
}
