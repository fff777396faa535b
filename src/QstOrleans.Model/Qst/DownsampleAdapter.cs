using QstOrleans.Model.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Qst;

/// <summary>
/// A_i(x) = LayerNorm_d(W_B · act(W_A · x)): a trainable low-rank bottleneck H → p → d (spec §1.2),
/// no biases, LayerNorm (eps 1e-5, fp32) after it by default. Its input is a frozen backbone state, so
/// no gradient leaves it. Parameter names: <c>adapter_A.weight</c> [p, H], <c>adapter_B.weight</c> [d, p],
/// <c>post_layer_norm.{weight,bias}</c> [d] (and <c>pre_layer_norm</c> [H] when enabled).
/// </summary>
public sealed class DownsampleAdapter : nn.Module<Tensor, Tensor>
{
    readonly DenseLinear _a, _b;          // adapter_A [p, H], adapter_B [d, p] ([out, in])
    readonly LayerNorm32? _pre, _post;    // pre_layer_norm [H], post_layer_norm [d] (weight and bias each)
    readonly string _activation;
    readonly double _dropout;
    readonly ScalarType _compute, _accumulate;

    /// <param name="device">null: the default device; <c>meta</c>: shapes only (see <see cref="QstSideNetwork"/>).</param>
    public DownsampleAdapter(int inWidth, int bottleneck, int outWidth, QstConfig config, Precision precision, Generator generator,
        Device? device = null)
        : base("downsample_adapter")
    {
        _a = SideParameters.Linear(bottleneck, inWidth, bias: false, config, precision, generator, device);
        _b = SideParameters.Linear(outWidth, bottleneck, bias: false, config, precision, generator, device);
        register_module("adapter_A", _a);
        register_module("adapter_B", _b);
        if (config.LayerNormBeforeAdapter)
        {
            _pre = LayerNorm32.Identity(inWidth, 1e-5, trainable: true, device);
            register_module("pre_layer_norm", _pre);
        }
        if (config.LayerNormAfterAdapter)
        {
            _post = LayerNorm32.Identity(outWidth, 1e-5, trainable: true, device);
            register_module("post_layer_norm", _post);
        }
        _activation = config.Activation;
        _dropout = config.AdapterDropout;
        _compute = precision.Compute;
        _accumulate = precision.Accumulate;
    }

    /// <summary>W_A [p, H], the adapter's first projection (lean taps: the stage that owns the layer applies it).</summary>
    public DenseLinear Projection => _a;

    /// <summary>True when the adapter is only W_B · act(W_A · x) (+ post-LayerNorm): nothing trainable or random reads x
    /// before W_A, so U = W_A · x can be computed where x lives (lean taps).</summary>
    public bool Splittable => _pre is null && _dropout == 0;

    /// <param name="x">[B, T, H] frozen backbone state (any float dtype).</param>
    /// <returns>[B, T, d] fp32.</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var input = _pre is null ? x : _pre.forward(x);
        if (_dropout > 0) input = nn.functional.dropout(input, _dropout, training);
        var u = AdapterProjection.Project(_a, input, _compute);                         // [B, T, p]
        return FromProjection(u).MoveToOuterDisposeScope();
    }

    /// <summary>The rest of the adapter after U = W_A · x: LayerNorm_d(W_B · act(U)).</summary>
    /// <param name="u">[B, T, p] in the compute dtype.</param>
    /// <returns>[B, T, d] fp32.</returns>
    public Tensor FromProjection(Tensor u)
    {
        using var scope = NewDisposeScope();
        var hidden = _activation switch
        {
            "relu" => nn.functional.relu(u),
            "gelu" => nn.functional.gelu(u),
            _ => nn.functional.silu(u),
        };
        var y = _b.forward(hidden).to(_accumulate);                             // [B, T, d]
        return (_post is null ? y : _post.forward(y)).MoveToOuterDisposeScope();
    }
}
