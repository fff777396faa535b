using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>Affine LayerNorm over the last dimension, computed in fp32 (spec §4: every "norm" is fp32).</summary>
public sealed class LayerNorm32 : nn.Module<Tensor, Tensor>
{
    // ComponentName: Module.to(device) replaces registered tensors and re-points the field whose component
    // name matches the registered one; without it the field would keep the old, disposed tensor.
    [ComponentName(Name = "weight")] readonly Parameter _weight; // [D]
    [ComponentName(Name = "bias")] readonly Parameter _bias;     // [D]
    readonly double _eps;

    public LayerNorm32(Tensor weight, Tensor bias, double eps, bool trainable, string name = "layer_norm") : base(name)
    {
        _weight = new Parameter(weight.to(ScalarType.Float32), requires_grad: trainable);
        _bias = new Parameter(bias.to(ScalarType.Float32), requires_grad: trainable);
        register_parameter("weight", _weight);
        register_parameter("bias", _bias);
        _eps = eps;
    }

    /// <summary>γ = 1, β = 0 (PyTorch's default init), on <paramref name="device"/> (null: the default device).</summary>
    public static LayerNorm32 Identity(long dim, double eps, bool trainable, Device? device = null) =>
        new(ones(dim, device: device), zeros(dim, device: device), eps, trainable);

    /// <returns>[..., D] fp32.</returns>
    public override Tensor forward(Tensor x)
    {
        var dtype = Precision.NormDType(x.dtype);
        using var x32 = x.dtype == dtype ? null : x.to(dtype);
        using var w = _weight.dtype == dtype ? null : _weight.to(dtype);
        using var b = _bias.dtype == dtype ? null : _bias.to(dtype);
        return nn.functional.layer_norm(x32 ?? x, [_weight.shape[0]], w ?? _weight, b ?? _bias, _eps);
    }
}
