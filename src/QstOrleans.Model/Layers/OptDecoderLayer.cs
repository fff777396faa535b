using QstOrleans.Model.Attention;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;
using QstOrleans.Model.Tensors;

namespace QstOrleans.Model.Layers;

/// <summary>
/// The OPT block (pre-norm variant, <c>do_layer_norm_before = true</c>):
/// <code>
/// u = LN_attn(x);  x = x + out_proj(Attn(u))      (q scaled by 1/√D after its bias, no RoPE)
/// u = LN_final(x); x = x + fc2(ReLU(fc1(u)))
/// </code>
/// Positions enter through the learned position embedding of the first stage, not here. No dropout
/// (the reference's active side dropout is not reproduced; spec §6).
/// </summary>
public sealed class OptDecoderLayer : DecoderLayer
{
    readonly LayerShape _shape;
    readonly ScalarType _compute, _accumulate;
    readonly AttentionKernel _kernel;
    readonly LayerNorm32 _attnNorm, _finalNorm;                 // weight, bias [D] each
    // Weights [out, in], D = hidden, I = ffn_dim: q, k, v, out [D, D], fc1 [I, D], fc2 [D, I]; biases [out] when enabled.
    readonly nn.Module<Tensor, Tensor> _q, _k, _v, _out, _fc1, _fc2;

    public OptDecoderLayer(LayerShape shape, LinearFactory linear, Func<string, LayerNorm32> norm, Precision precision)
        : base("opt_decoder_layer")
    {
        _shape = shape;
        _compute = precision.Compute;
        _accumulate = precision.Accumulate;
        _kernel = precision.Attention;
        int h = shape.Hidden;
        _q = linear("self_attn.q_proj", h, h, shape.Bias);
        _k = linear("self_attn.k_proj", h, h, shape.Bias);
        _v = linear("self_attn.v_proj", h, h, shape.Bias);
        _out = linear("self_attn.out_proj", h, h, shape.Bias);
        _fc1 = linear("fc1", shape.Intermediate, h, shape.Bias);
        _fc2 = linear("fc2", h, shape.Intermediate, shape.Bias);
        _attnNorm = norm("self_attn_layer_norm");
        _finalNorm = norm("final_layer_norm");

        var attn = new ModuleGroup("self_attn", ("q_proj", _q), ("k_proj", _k), ("v_proj", _v), ("out_proj", _out));
        register_module("self_attn", attn);
        register_module("self_attn_layer_norm", _attnNorm);
        register_module("fc1", _fc1);
        register_module("fc2", _fc2);
        register_module("final_layer_norm", _finalNorm);
    }

    /// <param name="cache">Optional KV cache (incremental decoding); null leaves the full-sequence path unchanged.</param>
    public override Tensor Forward(Tensor x, AttentionContext context, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int nh = _shape.Heads, hd = _shape.HeadDim;
        var u = _attnNorm.forward(x).to(_compute);                                     // [B, T, D]
        var q = _q.forward(u).view(b, t, nh, hd).transpose(1, 2);                      // [B, n_h, T, hd]
        var k = _k.forward(u).view(b, t, nh, hd).transpose(1, 2);
        var v = _v.forward(u).view(b, t, nh, hd).transpose(1, 2);
        if (cache is not null) (k, v) = cache.Append(k, v);                            // [B, n_h, T_past + T, hd]
        var attended = _kernel switch                                                   // [B, n_h, T, hd]
        {
            AttentionKernel.Recompute => RecomputedAttention.Apply(q, k, v, context.Mask, EagerAttention),
            AttentionKernel.Fused => FusedAttention.Apply(q, k, v, context),            // scales q·kᵀ by 1/√hd itself
            _ => EagerAttention(q, k, v, context.Mask),
        };
        var mixed = attended.transpose(1, 2).reshape(b, t, nh * hd);
        var h = x.Plus(_out.forward(mixed).to(_accumulate));
        var w = _finalNorm.forward(h).to(_compute);
        var mlp = _fc2.forward(nn.functional.relu(_fc1.forward(w)));
        return h.Plus(mlp.to(_accumulate)).MoveToOuterDisposeScope();
    }

    /// <summary>HF OPT's eager attention: q scaled by 1/√hd before q·kᵀ, softmax in fp32 over scores + mask.</summary>
    Tensor EagerAttention(Tensor q, Tensor k, Tensor v, Tensor mask)
    {
        using Scalar scale = 1.0 / Math.Sqrt(_shape.HeadDim);                          // owned: see Scalars
        var probs = q.mul(scale).matmul(k.transpose(-2, -1)).to(_accumulate).Plus(mask).softmax(-1).to(_compute);
        return probs.matmul(v);                                                        // [B, n_h, T, hd]
    }
}
