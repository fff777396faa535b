using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>
/// Builds the linear projection called <paramref name="name"/> (relative to its decoder layer, HF
/// spelling, e.g. <c>self_attn.q_proj</c>) of shape [out, in]. One decoder-layer implementation
/// serves every use: frozen NF4 or bf16 backbone weights, trainable side weights, LoRA wrappers.
/// </summary>
public delegate nn.Module<Tensor, Tensor> LinearFactory(string name, int outFeatures, int inFeatures, bool bias);
