using QstOrleans.Model.Attention;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;
using QstOrleans.Model.Tensors;

namespace QstOrleans.Model.Layers;

/// <summary>
/// The Llama block (HF 4.33 eager semantics, no dropout; spec §1.4):
/// <code>
/// u = RMSNorm_in(x);   x = x + Attn(u)
/// u = RMSNorm_post(x); x = x + down(SiLU(gate(u)) ⊙ up(u))
/// </code>
/// Attention: RoPE (rotate half), GQA (query head j reads kv head ⌊j·n_kv/n_h⌋), scores scaled by
/// 1/√D, softmax in fp32 over scores + additive mask (fused kernel by default, <see cref="AttentionKernel"/>).
/// Projections have no bias. The same class is the
/// frozen backbone layer (NF4/bf16 linears) and the trainable QST side layer (width d).
/// </summary>
public sealed class LlamaDecoderLayer : DecoderLayer
{
    readonly LayerShape _shape;
    readonly ScalarType _compute, _accumulate;
    readonly bool _scoresInCompute;
    readonly AttentionKernel _kernel;
    readonly RmsNorm _inputNorm, _postNorm;                     // [D] each
    // Weights [out, in], D = hidden, I = intermediate: q [n_h·d_h, D], k and v [n_kv·d_h, D], o [D, n_h·d_h],
    // gate and up [I, D], down [D, I]. No biases.
    readonly nn.Module<Tensor, Tensor> _q, _k, _v, _o, _gate, _up, _down;

    public LlamaDecoderLayer(LayerShape shape, LinearFactory linear, Func<string, RmsNorm> norm, Precision precision)
        : base("llama_decoder_layer")
    {
        _shape = shape;
        _compute = precision.Compute;
        _accumulate = precision.Accumulate;
        _scoresInCompute = precision.ScoresInCompute && precision.Compute != precision.Accumulate;
        _kernel = precision.Attention;
        int h = shape.Hidden, i = shape.Intermediate;
        _q = linear("self_attn.q_proj", shape.QDim, h, false);
        _k = linear("self_attn.k_proj", shape.KvDim, h, false);
        _v = linear("self_attn.v_proj", shape.KvDim, h, false);
        _o = linear("self_attn.o_proj", h, shape.QDim, false);
        _gate = linear("mlp.gate_proj", i, h, false);
        _up = linear("mlp.up_proj", i, h, false);
        _down = linear("mlp.down_proj", h, i, false);
        _inputNorm = norm("input_layernorm");
        _postNorm = norm("post_attention_layernorm");

        // HF parameter names: self_attn.q_proj.weight, mlp.up_proj.weight, input_layernorm.weight, ...
        var attn = new ModuleGroup("self_attn", ("q_proj", _q), ("k_proj", _k), ("v_proj", _v), ("o_proj", _o));
        var mlp = new ModuleGroup("mlp", ("gate_proj", _gate), ("up_proj", _up), ("down_proj", _down));
        register_module("self_attn", attn);
        register_module("mlp", mlp);
        register_module("input_layernorm", _inputNorm);
        register_module("post_attention_layernorm", _postNorm);
    }

    public LayerShape Shape => _shape;

    /// <param name="x">[B, T, D] fp32 residual stream.</param>
    /// <param name="cache">Optional KV cache (incremental decoding); null leaves the full-sequence path unchanged.</param>
    public override Tensor Forward(Tensor x, AttentionContext context, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        var u = _inputNorm.forward(x).to(_compute);                                      // [B, T, D]
        var h = x.Plus(Attention(u, context, cache).to(_accumulate));
        var w = _postNorm.forward(h).to(_compute);
        var mlp = _down.forward(nn.functional.silu(_gate.forward(w)) * _up.forward(w));  // [B, T, D]
        return h.Plus(mlp.to(_accumulate)).MoveToOuterDisposeScope();
    }

    Tensor Attention(Tensor u, AttentionContext context, KvCache? cache)
    {
        long b = u.shape[0], t = u.shape[1];
        int nh = _shape.Heads, nkv = _shape.KvHeads, hd = _shape.HeadDim;
        var q = _q.forward(u).view(b, t, nh, hd).transpose(1, 2);                      // [B, n_h, T, D]
        var k = _k.forward(u).view(b, t, nkv, hd).transpose(1, 2);                     // [B, n_kv, T, D]
        var v = _v.forward(u).view(b, t, nkv, hd).transpose(1, 2);                     // [B, n_kv, T, D]
        var (cos, sin) = context.Rope(hd, _shape.RopeTheta, _shape.RopeScaling);
        q = RotaryEmbedding.Apply(q, cos, sin);
        k = RotaryEmbedding.Apply(k, cos, sin);
        if (cache is not null) (k, v) = cache.Append(k, v);                            // [B, n_kv, T_past + T, D]
        if (nh != nkv)
        {
            k = k.repeat_interleave(nh / nkv, dim: 1);                                  // [B, n_h, T, D]
            v = v.repeat_interleave(nh / nkv, dim: 1);
        }
        var mask = _scoresInCompute ? context.MaskIn(q.dtype) : context.Mask;           // [B, 1, T, T_past + T]
        var attended = _kernel switch                                                   // [B, n_h, T, D]
        {
            AttentionKernel.Recompute => RecomputedAttention.Apply(q, k, v, mask, EagerAttention),
            AttentionKernel.Fused => FusedAttention.Apply(q, k, v, context),
            _ => EagerAttention(q, k, v, mask),
        };
        return _o.forward(attended.transpose(1, 2).reshape(b, t, nh * hd));              // [B, T, D_model]
    }

    /// <summary>The spec's attention written out: scores [B, n_h, T, T_past + T] materialized (saved by autograd unless
    /// <see cref="RecomputedAttention"/> wraps it). <paramref name="mask"/> is in the scores' dtype with bf16 scores, else fp32.</summary>
    Tensor EagerAttention(Tensor q, Tensor k, Tensor v, Tensor mask)
    {
        using Scalar scale = 1.0 / Math.Sqrt(_shape.HeadDim);                           // owned: see Scalars
        var scores = q.matmul(k.transpose(-2, -1)).mul(scale);                          // [B, n_h, T, T_past + T]
        var probs = _scoresInCompute
            // bf16 throughout: softmax saves its bf16 output, which is also the matmul's saved input (2 B per score, not 6).
            ? scores.Plus(mask).softmax(-1)                                             // [B, n_h, T, T_past + T]
            : scores.to(_accumulate).Plus(mask).softmax(-1).to(q.dtype);
        return probs.matmul(v);                                                         // [B, n_h, T, D]
    }
}
