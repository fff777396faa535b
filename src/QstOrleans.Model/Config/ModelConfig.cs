using System.Text.Json;
using System.Text.Json.Nodes;

namespace QstOrleans.Model.Config;

/// <summary>
/// The shape of a decoder-only backbone, parsed from a Hugging Face <c>config.json</c>
/// (Llama 1/2/3 and OPT). Immutable; the same record drives the backbone, the side network
/// (through <see cref="QstOrleans.Model.Qst.QstConfig"/>) and the shape-only parameter counts.
/// </summary>
/// <remarks>
/// Throws <see cref="ModelConfigException"/> naming the file and field for a missing or invalid field,
/// an unsupported <c>model_type</c> or <c>hidden_act</c>, or a <c>rope_scaling</c> type other than
/// <c>llama3</c> / <c>linear</c>.
/// </remarks>
public sealed record ModelConfig
{
    public ModelArchitecture Architecture { get; init; } = ModelArchitecture.Llama;
    public int VocabSize { get; init; }
    public int HiddenSize { get; init; }               // H
    public int IntermediateSize { get; init; }         // I (OPT: ffn_dim)
    public int NumLayers { get; init; }                // N
    public int NumHeads { get; init; }                 // n_h
    public int NumKeyValueHeads { get; init; }         // n_kv (== n_h without GQA)
    public int HeadDim { get; init; }                  // H / n_h unless the config says otherwise
    public double NormEps { get; init; } = 1e-5;       // rms_norm_eps (Llama) / 1e-5 LayerNorm (OPT)
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }
    public int BosTokenId { get; init; } = 1;
    public int EosTokenId { get; init; } = 2;
    public int? PadTokenId { get; init; }
    public string HiddenAct { get; init; } = "silu";
    /// <summary>OPT only: word embedding width when it differs from <see cref="HiddenSize"/> (project_in/out).</summary>
    public int WordEmbedProjDim { get; init; }
    /// <summary>OPT only: whether linear layers carry biases (<c>enable_bias</c>).</summary>
    public bool EnableBias { get; init; } = true;
    /// <summary>OPT only: learned position embeddings are offset by 2 rows.</summary>
    public const int OptPositionOffset = 2;
    /// <summary>Name of the model, for logs and exported side networks (the directory name or preset).</summary>
    public string Name { get; init; } = "model";

    public int KvDim => NumKeyValueHeads * HeadDim;
    public int QDim => NumHeads * HeadDim;

    /// <summary>Number of backbone Linear weights (the ones stored in NF4), computed from the shape alone.</summary>
    public long BackboneLinearParameters => Architecture switch
    {
        ModelArchitecture.Llama => (long)NumLayers * ((long)HiddenSize * QDim * 2 + (long)HiddenSize * KvDim * 2 + 3L * HiddenSize * IntermediateSize),
        _ => (long)NumLayers * (4L * HiddenSize * HiddenSize + 2L * HiddenSize * IntermediateSize),
    };

    /// <summary>Checks the shape for internal consistency; throws naming the field.</summary>
    public ModelConfig Validate(string source)
    {
        void Require(bool ok, string field, string why)
        {
            if (!ok) throw new ModelConfigException(source, field, why);
        }
        Require(VocabSize > 0, "vocab_size", "must be positive");
        Require(HiddenSize > 0, "hidden_size", "must be positive");
        Require(IntermediateSize > 0, Architecture == ModelArchitecture.Opt ? "ffn_dim" : "intermediate_size", "must be positive");
        Require(NumLayers > 0, "num_hidden_layers", "must be positive");
        Require(NumHeads > 0, "num_attention_heads", "must be positive");
        Require(NumKeyValueHeads > 0 && NumHeads % NumKeyValueHeads == 0, "num_key_value_heads",
            $"must divide num_attention_heads ({NumHeads}), got {NumKeyValueHeads}");
        Require(HeadDim > 0 && HeadDim % 2 == 0, "head_dim", $"must be a positive even number, got {HeadDim}");
        Require(Architecture != ModelArchitecture.Llama || HiddenAct == "silu", "hidden_act", $"Llama needs 'silu', got '{HiddenAct}'");
        Require(Architecture != ModelArchitecture.Opt || HiddenAct == "relu", "activation_function", $"OPT needs 'relu', got '{HiddenAct}'");
        Require(NormEps > 0, "rms_norm_eps", "must be positive");
        Require(double.IsFinite(RopeTheta) && RopeTheta > 0, "rope_theta", $"must be a positive number, got {RopeTheta}");
        return this;
    }

    /// <summary>Reads <c>config.json</c> from a model directory (or a path to the file itself).</summary>
    public static ModelConfig Load(string pathOrDirectory)
    {
        string path = Directory.Exists(pathOrDirectory) ? Path.Combine(pathOrDirectory, "config.json") : pathOrDirectory;
        if (!File.Exists(path)) throw new ModelConfigException(path, null, "file not found");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                   ?? throw new ModelConfigException(path, null, "top level must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelConfigException(path, null, $"invalid JSON: {e.Message}");
        }
        string name = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? "model";
        return HfConfigParser.Parse(root, path, name);
    }

    /// <summary>Writes this shape as a HF <c>config.json</c> (the fields HF and this engine read).</summary>
    public void Save(string path) => File.WriteAllText(path, HfConfigParser.ToJson(this).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
}

/// <summary>RoPE frequency scaling (Llama 3.1+ "llama3", or "linear").</summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1.0, double HighFreqFactor = 4.0, int OriginalMaxPositionEmbeddings = 8192);

/// <summary>A <c>config.json</c> that cannot be used; the message names the file and field.</summary>
public sealed class ModelConfigException(string file, string? field, string why)
    : Exception(field is null ? $"{file}: {why}" : $"{file}: field '{field}' {why}")
{
    public string FilePath { get; } = file;
    public string? Field { get; } = field;
}
