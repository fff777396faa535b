using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>A pre-norm decoder block: residual stream in, residual stream out (fp32, [B, T, D]).</summary>
public abstract class DecoderLayer(string name) : nn.Module(name)
{
    /// <param name="x">[B, T, D] fp32 residual stream.</param>
    /// <param name="cache">Incremental decoding: the layer's keys/values of the T_past earlier positions; this
    /// call attends to them and appends its own T positions (the context describes T_past, see
    /// <see cref="AttentionContext.ForCachedStep"/>). null: a plain full-sequence forward.</param>
    /// <returns>[B, T, D] fp32: the layer's output, before the next layer's input norm.</returns>
    public abstract Tensor Forward(Tensor x, AttentionContext context, KvCache? cache = null);
}
