using QstOrleans.Model.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>RMSNorm(x) = w ⊙ x / √(mean_j x_j² + ε), statistic and output in fp32 (spec §1.4, §4).</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    // ComponentName: Module.to(device) replaces registered tensors and re-points the field whose component
    // name matches the registered one; without it the field would keep the old, disposed tensor.
    [ComponentName(Name = "weight")] readonly Parameter _weight; // [D] fp32
    readonly Scalar _eps;   // owned for the module's life: a temporary would be freed by its finalizer mid-call (see Scalars)

    public RmsNorm(Tensor weight, double eps, bool trainable, string name = "rms_norm") : base(name)
    {
        _weight = new Parameter(weight.to(ScalarType.Float32), requires_grad: trainable);
        register_parameter("weight", _weight);
        _eps = eps;
    }

    /// <summary>w = 1, on <paramref name="device"/> (null: the default device).</summary>
    public static RmsNorm Ones(long dim, double eps, bool trainable, Device? device = null) => new(ones(dim, device: device), eps, trainable);

    public Parameter Weight => _weight;

    /// <param name="x">[..., D] any float dtype.</param>
    /// <returns>[..., D] fp32 (fp64 for fp64 input).</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var x32 = x.to(Precision.NormDType(x.dtype));
        var inv = x32.pow(Scalars.Two).mean([-1L], keepdim: true).PlusScalar(_eps).rsqrt();
        return (x32 * inv * _weight.to(x32.dtype)).MoveToOuterDisposeScope();
    }
}
