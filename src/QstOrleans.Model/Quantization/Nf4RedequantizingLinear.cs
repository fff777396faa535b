using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// y = x·Wᵀ + b through an NF4 weight when x needs a gradient (QLoRA), saving nothing for backward: forward
/// dequantizes W (into a shared warm buffer on the CPU, since autograd does not keep it) and backward dequantizes it
/// again for dx = dy·W, as bitsandbytes does. WHY: autograd over <c>F.linear</c> keeps every layer's dequantized bf16
/// W alive from forward to backward (2 B/weight: the whole model in bf16 at the step's peak). The product is the
/// one autograd's linear backward computes (dy·W in the input's dtype), so gradients are unchanged.
/// W and b are frozen: no gradient goes to them.
/// </summary>
sealed class Nf4RedequantizingLinear : SingleTensorFunction<Nf4RedequantizingLinear>
{
    public override string Name => nameof(Nf4RedequantizingLinear);

    /// <param name="vars">x [..., in] (bf16 or fp32), the <see cref="Nf4Linear"/>.</param>
    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var (x, layer) = ((Tensor)vars[0], (Nf4Linear)vars[1]);
        ctx.save_data("layer", layer);
        return layer.forward(x);                                                       // [..., out]; autograd is off here
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
    {
        var layer = (Nf4Linear)ctx.get_data("layer");
        return [layer.InputGradient(gradOutput), null!];                              // [..., in]
    }
}
