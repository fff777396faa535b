namespace QstOrleans.Model.Config;

/// <summary>The decoder families the engine can load (HF `model_type`).</summary>
public enum ModelArchitecture
{
    /// <summary>Llama 1/2/3 (`model_type: llama`): pre-norm RMSNorm, RoPE, SwiGLU MLP, optional GQA.</summary>
    Llama,
    /// <summary>OPT (`model_type: opt`): pre-norm LayerNorm, learned positions, ReLU MLP, biases.</summary>
    Opt,
}
