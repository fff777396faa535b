using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>
/// y = x·Wᵀ (+ b) with the weight stored in one dtype and multiplied in the input's dtype.
/// Used for trainable side/full-fine-tuning weights (fp32 master copy, cast to bf16 per call, so
/// AdamW updates never lose bits to bf16 rounding) and for frozen bf16 backbone weights (LoRA
/// baseline). Input and output are in the compute dtype.
/// </summary>
public sealed class DenseLinear : nn.Module<Tensor, Tensor>
{
    // ComponentName: Module.to(device) replaces registered tensors and re-points the field whose component
    // name matches the registered one; without it the field would keep the old, disposed tensor.
    [ComponentName(Name = "weight")] readonly Parameter _weight;   // [out, in]
    [ComponentName(Name = "bias")] readonly Parameter? _bias;      // [out]

    public DenseLinear(Tensor weight, Tensor? bias, bool trainable, string name = "linear") : base(name)
    {
        _weight = new Parameter(weight, requires_grad: trainable);
        register_parameter("weight", _weight);
        if (bias is not null)
        {
            _bias = new Parameter(bias, requires_grad: trainable);
            register_parameter("bias", _bias);
        }
    }

    public Parameter Weight => _weight;
    public Parameter? Bias => _bias;
    public long InFeatures => _weight.shape[1];
    public long OutFeatures => _weight.shape[0];

    /// <summary>PyTorch's nn.Linear default init (kaiming_uniform with a = √5 = U(±1/√in)), in fp32,
    /// drawn from <paramref name="generator"/> so a seed reproduces it (spec §3).</summary>
    /// <param name="device">null: the default (CPU) device; <c>meta</c>: shapes only, no storage and no draw.</param>
    public static DenseLinear CreateTrainable(long outFeatures, long inFeatures, bool bias, Generator generator, string name = "linear",
        Device? device = null)
    {
        double bound = 1.0 / Math.Sqrt(inFeatures);
        var w = Init.Uniform([outFeatures, inFeatures], bound, generator, device);   // [out, in]
        var b = bias ? Init.Uniform([outFeatures], bound, generator, device) : null;  // [out]
        return new DenseLinear(w, b, trainable: true, name);
    }

    /// <param name="input">[..., in] in the compute dtype.</param>
    /// <returns>[..., out] in the input's dtype.</returns>
    public override Tensor forward(Tensor input)
    {
        using var w = _weight.dtype == input.dtype ? null : _weight.to(input.dtype);
        using var b = _bias is null || _bias.dtype == input.dtype ? null : _bias.to(input.dtype);
        return nn.functional.linear(input, w ?? _weight, b ?? (Tensor?)_bias);
    }
}

/// <summary>Seeded parameter initialisers (fp32).</summary>
public static class Init
{
    /// <summary>U(−bound, +bound) drawn from the generator. On the <c>meta</c> device: an empty tensor of the shape
    /// (meta tensors have no values), and the generator is left untouched.</summary>
    public static Tensor Uniform(long[] shape, double bound, Generator generator, Device? device = null)
    {
        if (device?.type == DeviceType.META) return empty(shape, dtype: ScalarType.Float32, device: device);
        using var scope = NewDisposeScope();
        var u = rand(shape, dtype: ScalarType.Float32, generator: generator);
        using Scalar width = 2 * bound, low = bound;   // owned: see Scalars
        return u.mul(width).sub(low).MoveToOuterDisposeScope();
    }
}
