using QstOrleans.Model.Layers;
using QstOrleans.Model.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Baselines;

/// <summary>
/// LoRA (PEFT semantics): y = base(x) + (α/r)·B(A(x)), A [r, in] ~ U(±1/√in) (kaiming_uniform a = √5),
/// B [out, r] = 0, so the wrapped layer starts equal to its base. The base is frozen: a bf16
/// <see cref="DenseLinear"/> (LoRA) or an NF4 linear (QLoRA); gradients flow through it to the input,
/// which is what makes QLoRA's backward pass cost memory that QST avoids.
/// Parameter names: <c>base_layer.*</c>, <c>lora_A.weight</c>, <c>lora_B.weight</c>.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor> _base;
    readonly DenseLinear _a, _b;
    readonly double _scale;

    public LoraLinear(nn.Module<Tensor, Tensor> baseLayer, long inFeatures, long outFeatures, int rank, double alpha, Generator generator)
        : base("lora_linear")
    {
        _base = baseLayer;
        _a = DenseLinear.CreateTrainable(rank, inFeatures, bias: false, generator);
        _b = new DenseLinear(zeros(outFeatures, rank), null, trainable: true);
        _scale = alpha / rank;
        register_module("base_layer", _base);
        register_module("lora_A", _a);
        register_module("lora_B", _b);
    }

    /// <param name="x">[..., in] compute dtype.</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using Scalar scale = _scale;                                                   // owned: see Scalars
        var y = _base.forward(x).Plus(_b.forward(_a.forward(x)).mul(scale));
        return y.MoveToOuterDisposeScope();
    }
}
