using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

using QstOrleans.Model.Layers;

namespace QstOrleans.Model.Attention;

/// <summary>
/// <see cref="AttentionKernel.Recompute"/>: a layer's eager attention core (q, k, v, mask → mixed values) under a custom
/// autograd node that saves only its inputs. Backward runs the same core again with autograd on and backpropagates the
/// incoming gradient through it, so the [B, n_h, T, T] scores and probabilities live only while one layer's backward runs.
/// The recomputed forward is the same kernels on the same inputs, so the gradients equal the eager path's bitwise.
/// The mask is saved with q, k, v (not read from the <see cref="AttentionContext"/>), so backward may run after the
/// context is disposed, as it does when a caller takes logits and calls backward later.
/// </summary>
public static class RecomputedAttention
{
    /// <summary>The eager core: q [B, n_h, T, hd], k and v [B, n_h, S, hd], additive mask [B, 1, T, S] → [B, n_h, T, hd].</summary>
    public delegate Tensor Core(Tensor q, Tensor k, Tensor v, Tensor mask);

    /// <summary>The core's output with a recompute-in-backward node; the plain core when no graph is being recorded.</summary>
    public static Tensor Apply(Tensor q, Tensor k, Tensor v, Tensor mask, Core core)
    {
        bool recorded = is_grad_enabled() && (q.requires_grad || k.requires_grad || v.requires_grad);
        return recorded ? RecomputedAttentionNode.apply(q, k, v, mask, new AttentionCall(core)) : core(q, k, v, mask);
    }
}

/// <summary>The non-tensor argument of a recomputed attention call.</summary>
sealed record AttentionCall(RecomputedAttention.Core Core);

/// <summary>The autograd node of <see cref="RecomputedAttention"/>.</summary>
sealed class RecomputedAttentionNode : SingleTensorFunction<RecomputedAttentionNode>
{
    public override string Name => nameof(RecomputedAttentionNode);

    /// <param name="vars">q, k, v, mask, <see cref="AttentionCall"/>.</param>
    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var (q, k, v, mask, call) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], (AttentionCall)vars[4]);
        var mixed = call.Core(q, k, v, mask);                                           // [B, n_h, T, hd]; autograd is off here
        ctx.save_for_backward([q, k, v, mask]);
        ctx.save_data("call", call);
        ctx.save_data("needs", new[] { q.requires_grad, k.requires_grad, v.requires_grad });
        return mixed;
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
    {
        var call = (AttentionCall)ctx.get_data("call");
        var needs = (bool[])ctx.get_data("needs");
        var saved = ctx.get_saved_variables();                                          // q, k, v, mask
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var inputs = saved.Take(3).Select(t => t.detach().requires_grad_(true)).ToArray();
        var mixed = call.Core(inputs[0], inputs[1], inputs[2], saved[3]);              // the scores again, with a graph
        mixed.backward([gradOutput]);
        var grads = inputs.Select((x, i) => needs[i] ? (x.grad ?? zeros_like(x)).MoveToOuterDisposeScope() : null!).ToList();
        grads.Add(null!);                                                               // the mask
        grads.Add(null!);                                                               // the call
        return grads;
    }
}
