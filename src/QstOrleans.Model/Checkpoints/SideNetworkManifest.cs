using System.Text.Json;
using System.Text.Json.Serialization;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Qst;

namespace QstOrleans.Model.Checkpoints;

/// <summary>
/// <c>side_config.json</c>: everything needed to rebuild an exported side network and to check it is put on the
/// base model it was trained for. <see cref="Format"/> is "qst-side-network", <see cref="FormatVersion"/> 1.
/// </summary>
public sealed record SideNetworkManifest
{
    public const string FormatName = "qst-side-network";

    [JsonPropertyName("format")] public string Format { get; init; } = FormatName;
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = 1;
    [JsonPropertyName("qst_config")] public QstConfig Qst { get; init; } = new();
    /// <summary>Compute dtype: "bf16" or "fp32" (<see cref="Layers.Precision.Parse"/>).</summary>
    [JsonPropertyName("precision")] public string Precision { get; init; } = "bf16";
    /// <summary>The init seed of the run (parameters are restored from the file, not re-drawn).</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; }
    /// <summary>How the frozen backbone was held while training: "nf4", "bf16" or "fp32".</summary>
    [JsonPropertyName("backbone_format")] public string BackboneFormat { get; init; } = "nf4";
    [JsonPropertyName("double_quant")] public bool DoubleQuant { get; init; } = true;
    [JsonPropertyName("trainable_parameters")] public long TrainableParameters { get; init; }
    [JsonPropertyName("base_model")] public BaseModelFingerprint BaseModel { get; init; } = new();

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };

    public static string FormatText(WeightFormat f) => f switch
    {
        WeightFormat.Nf4 => "nf4",
        WeightFormat.BFloat16 => "bf16",
        _ => "fp32",
    };

    public static WeightFormat ParseFormat(string text, string source) => text switch
    {
        "nf4" => WeightFormat.Nf4,
        "bf16" => WeightFormat.BFloat16,
        "fp32" => WeightFormat.Float32,
        _ => throw new InvalidDataException($"{source}: field 'backbone_format' must be nf4, bf16 or fp32, got '{text}'"),
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads and checks a <c>side_config.json</c>; throws <see cref="FileNotFoundException"/> or
    /// <see cref="InvalidDataException"/> naming the file (and field).</summary>
    public static SideNetworkManifest Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"side network config '{path}' does not exist", path);
        SideNetworkManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<SideNetworkManifest>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: invalid side network config: {e.Message}", e);
        }
        if (m is null) throw new InvalidDataException($"{path}: empty side network config");
        if (m.Format != FormatName) throw new InvalidDataException($"{path}: field 'format' is '{m.Format}', expected '{FormatName}'");
        if (m.FormatVersion != 1) throw new InvalidDataException($"{path}: field 'format_version' {m.FormatVersion} is not supported (1)");
        if (m.BaseModel.ShapeSha256.Length != 64) throw new InvalidDataException($"{path}: field 'base_model.shape_sha256' is missing or malformed");
        ParseFormat(m.BackboneFormat, path);
        return m;
    }
}
