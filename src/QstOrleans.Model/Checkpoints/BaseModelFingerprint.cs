using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using QstOrleans.Model.Config;

namespace QstOrleans.Model.Checkpoints;

/// <summary>
/// Identifies the base model a side network belongs to: its name and the shape fields of its
/// <c>config.json</c>, plus <see cref="ShapeSha256"/>, the SHA-256 (lower-case hex) of the canonical text
/// <see cref="CanonicalText"/>: one <c>key=value\n</c> line per shape field in the fixed order below, HF key names,
/// invariant formatting (<c>model_type, vocab_size, hidden_size, intermediate_size, num_hidden_layers,
/// num_attention_heads, num_key_value_heads, head_dim, tie_word_embeddings</c>, and for OPT
/// <c>word_embed_proj_dim, enable_bias</c>). The name is not hashed: a model copied to another folder still matches.
/// </summary>
public sealed record BaseModelFingerprint
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumHeads { get; init; }
    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; }
    [JsonPropertyName("head_dim")] public int HeadDim { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("word_embed_proj_dim")] public int WordEmbedProjDim { get; init; }
    [JsonPropertyName("enable_bias")] public bool EnableBias { get; init; }
    [JsonPropertyName("shape_sha256")] public string ShapeSha256 { get; init; } = "";

    public static BaseModelFingerprint From(ModelConfig c)
    {
        var f = new BaseModelFingerprint
        {
            Name = c.Name,
            ModelType = c.Architecture == ModelArchitecture.Opt ? "opt" : "llama",
            VocabSize = c.VocabSize, HiddenSize = c.HiddenSize, IntermediateSize = c.IntermediateSize, NumLayers = c.NumLayers,
            NumHeads = c.NumHeads, NumKeyValueHeads = c.NumKeyValueHeads, HeadDim = c.HeadDim, TieWordEmbeddings = c.TieWordEmbeddings,
            WordEmbedProjDim = c.Architecture == ModelArchitecture.Opt ? c.WordEmbedProjDim : 0,
            EnableBias = c.Architecture == ModelArchitecture.Opt && c.EnableBias,
        };
        return f with { ShapeSha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(f.CanonicalText()))) };
    }

    /// <summary>The hashed text (see the type summary).</summary>
    public string CanonicalText()
    {
        var fields = ShapeFields().ToList();
        return string.Concat(fields.Select(f => $"{f.Key}={f.Value}\n"));
    }

    /// <summary>The fields whose values differ from <paramref name="other"/>'s, as "key a ≠ b".</summary>
    public IReadOnlyList<string> Differences(BaseModelFingerprint other)
    {
        var theirs = other.ShapeFields().ToDictionary(f => f.Key, f => f.Value);
        return ShapeFields().Where(f => !theirs.TryGetValue(f.Key, out var v) || v != f.Value)
            .Select(f => $"{f.Key} {f.Value} vs {(theirs.TryGetValue(f.Key, out var v) ? v : "absent")}").ToList();
    }

    /// <summary>One-line summary for messages.</summary>
    public string Describe() =>
        $"'{Name}' ({ModelType}, hidden {HiddenSize}, layers {NumLayers}, vocab {VocabSize}, shape sha256 {ShapeSha256[..Math.Min(12, ShapeSha256.Length)]})";

    IEnumerable<KeyValuePair<string, string>> ShapeFields()
    {
        static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        static string B(bool v) => v ? "true" : "false";
        yield return new("model_type", ModelType);
        yield return new("vocab_size", I(VocabSize));
        yield return new("hidden_size", I(HiddenSize));
        yield return new("intermediate_size", I(IntermediateSize));
        yield return new("num_hidden_layers", I(NumLayers));
        yield return new("num_attention_heads", I(NumHeads));
        yield return new("num_key_value_heads", I(NumKeyValueHeads));
        yield return new("head_dim", I(HeadDim));
        yield return new("tie_word_embeddings", B(TieWordEmbeddings));
        if (ModelType != "opt") yield break;
        yield return new("word_embed_proj_dim", I(WordEmbedProjDim));
        yield return new("enable_bias", B(EnableBias));
    }
}
