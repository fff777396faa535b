using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace QstOrleans.Model.Layers;

/// <summary>
/// Gradient checkpointing of one decoder layer (HF's <c>gradient_checkpointing</c>, reentrant form): forward runs the
/// layer without recording a graph and keeps only its input x [B, T, D]; backward re-runs the layer's forward on x
/// under autograd and backpropagates through that, so a layer's activations exist only while its backward runs.
/// The recomputed forward is the same kernels on the same input, so gradients equal the plain path's bitwise (fp32).
/// Trainable parameters inside the layer (LoRA adapters, full fine-tuning's weights) get their gradients from the
/// inner backward, accumulated into <c>.grad</c> as the plain path would.
/// WHY a custom autograd node: TorchSharp 0.107 has no <c>torch.utils.checkpoint</c>, but it has
/// <see cref="SingleTensorFunction{T}"/>, whose backward may run a nested (reentrant) backward.
/// </summary>
public static class LayerCheckpoint
{
    /// <summary>The layer's output with a recompute-in-backward node; a plain forward when grad is off.</summary>
    /// <param name="x">[B, T, D] fp32 residual stream.</param>
    /// <param name="context">Must stay undisposed until backward has run (the recompute reads its mask and RoPE tables).</param>
    /// <returns>[B, T, D] fp32.</returns>
    public static Tensor Forward(DecoderLayer layer, Tensor x, AttentionContext context)
    {
        if (!is_grad_enabled()) return layer.Forward(x, context);
        // The node must see an input that requires grad, or autograd never calls its backward and the layer's own
        // trainable parameters get nothing (the first layer's input, from the frozen embedding, has none).
        using var input = x.requires_grad ? null : x.detach().requires_grad_(true);
        return RecomputedLayer.apply(input ?? x, new LayerCall(layer, context));
    }
}

/// <summary>The non-tensor arguments of a checkpointed layer call.</summary>
sealed record LayerCall(DecoderLayer Layer, AttentionContext Context);

/// <summary>The autograd node of <see cref="LayerCheckpoint"/>.</summary>
sealed class RecomputedLayer : SingleTensorFunction<RecomputedLayer>
{
    public override string Name => nameof(RecomputedLayer);

    /// <param name="vars">x [B, T, D], <see cref="LayerCall"/>.</param>
    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var (x, call) = ((Tensor)vars[0], (LayerCall)vars[1]);
        var y = call.Layer.Forward(x, call.Context);                                   // [B, T, D]; autograd is off here
        ctx.save_for_backward([x]);
        ctx.save_data("call", call);
        return y;
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
    {
        var call = (LayerCall)ctx.get_data("call");
        var x = ctx.get_saved_variables()[0];                                          // [B, T, D]
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var input = x.detach().requires_grad_(true);
        var y = call.Layer.Forward(input, call.Context);                               // [B, T, D] with a graph
        y.backward([gradOutput]);                                                      // parameters' .grad += ∂/∂θ
        var dx = input.grad ?? zeros_like(input);                                      // [B, T, D]
        return [dx.MoveToOuterDisposeScope(), null!];
    }
}
