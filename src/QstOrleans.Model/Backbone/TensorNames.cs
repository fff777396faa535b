using QstOrleans.Model.Config;

namespace QstOrleans.Model.Backbone;

/// <summary>
/// Hugging Face tensor names per architecture (spec §12.2, §12.3). OPT checkpoints exist both with and
/// without the leading <c>model.</c>; <see cref="Resolve"/> picks the spelling the checkpoint uses.
/// </summary>
public sealed class TensorNames
{
    readonly string _prefix;    // "model." (Llama), "model.decoder." or "decoder." (OPT)
    public ModelArchitecture Architecture { get; }

    TensorNames(ModelArchitecture architecture, string prefix)
    {
        Architecture = architecture;
        _prefix = prefix;
    }

    public static TensorNames Resolve(ModelConfig config, Func<string, bool> contains)
    {
        if (config.Architecture == ModelArchitecture.Llama) return new(config.Architecture, "model.");
        bool bare = !contains("model.decoder.embed_tokens.weight") && contains("decoder.embed_tokens.weight");
        return new(config.Architecture, bare ? "decoder." : "model.decoder.");
    }

    public static TensorNames For(ModelArchitecture architecture) =>
        new(architecture, architecture == ModelArchitecture.Llama ? "model." : "model.decoder.");

    public string Embedding => _prefix + "embed_tokens.weight";
    public string Positions => _prefix + "embed_positions.weight";
    public string ProjectIn => _prefix + "project_in";
    public string ProjectOut => _prefix + "project_out";
    public string Layer(int i) => $"{_prefix}layers.{i}.";
    public string FinalNorm => Architecture == ModelArchitecture.Llama ? _prefix + "norm" : _prefix + "final_layer_norm";
    public string LmHead => "lm_head.weight";
}
