using QstOrleans.Model.Tensors;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace QstOrleans.Model.Loss;

/// <summary>What <see cref="ChunkedHeadLoss"/> needs besides tensors: the head's matmul dtype, the chunk length, and
/// which inputs want a gradient (read in forward, where autograd is off but <c>requires_grad</c> is still set).</summary>
sealed record HeadLossPlan(ScalarType Compute, int ChunkTokens, bool InputGrad, bool WeightGrad);

/// <summary>
/// LM head + mean cross-entropy as one autograd node, over the K kept positions in chunks of C tokens:
/// <code>
/// forward:  z_c = (x_c · Wᵀ) → fp32,  lse_c = logsumexp(z_c),  loss = Σ (lse − z[target]) / K
/// backward: recompute z_c,  dz_c = (exp(z_c − lse_c) − onehot(target_c)) · g / K,
///           dx_c = dz_c · W,  dW += dz_cᵀ · x_c    (products in the compute dtype, as the plain path)
/// </code>
/// WHY a node of its own: autograd over the plain path keeps the [K, V] logits and log-softmax (fp32) alive until
/// backward; this keeps only lse [K] and recomputes one [C, V] chunk at a time (one more head matmul per step).
/// </summary>
sealed class ChunkedHeadLoss : SingleTensorFunction<ChunkedHeadLoss>
{
    public override string Name => nameof(ChunkedHeadLoss);

    /// <param name="vars">x [K, E] (accumulate dtype), weight [V, E] (any float dtype), targets [K] int64, <see cref="HeadLossPlan"/>.</param>
    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var (x, weight, targets, plan) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (HeadLossPlan)vars[3]);
        var accumulate = x.dtype;
        using var scope = NewDisposeScope();
        var w = weight.dtype == plan.Compute ? weight : weight.to(plan.Compute);       // [V, E]
        long k = x.shape[0];
        var lse = empty(k, dtype: accumulate, device: x.device);                      // [K]
        var total = zeros(1, dtype: accumulate, device: x.device);                    // [1]
        for (long start = 0; start < k; start += plan.ChunkTokens)
        {
            using var chunk = NewDisposeScope();
            long c = Math.Min(plan.ChunkTokens, k - start);
            var z = Logits(x.narrow(0, start, c), w, plan.Compute, accumulate);      // [C, V]
            var picked = z.gather(1, targets.narrow(0, start, c).unsqueeze(1)).squeeze(1);   // [C]
            // logsumexp in place (max + log Σ exp(z − max), as torch.logsumexp): no second [C, V] buffer.
            var max = z.amax([-1], keepdim: true);                                   // [C, 1]
            var l = z.sub_(max).exp_().sum([-1]).log_().add_(max.squeeze(1), Scalars.One);   // [C]
            lse.narrow(0, start, c).copy_(l);
            total.add_(l.sub(picked).sum(), Scalars.One);
        }
        using var count = tensor((double)k, dtype: accumulate, device: x.device);
        var loss = total.div(count).squeeze(0);                                       // [] (NaN when K = 0, as PyTorch)
        ctx.save_for_backward([x, weight, targets, lse.MoveToOuterDisposeScope()]);
        ctx.save_data("plan", plan);
        return loss.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
    {
        var plan = (HeadLossPlan)ctx.get_data("plan");
        var saved = ctx.get_saved_variables();
        var (x, weight, targets, lse) = (saved[0], saved[1], saved[2], saved[3]);
        var accumulate = x.dtype;
        using var scope = NewDisposeScope();
        var w = weight.dtype == plan.Compute ? weight : weight.to(plan.Compute);       // [V, E]
        long k = x.shape[0];
        using var count = tensor((double)k, dtype: accumulate, device: x.device);
        var scale = gradOutput.to(accumulate).div(count);                             // [] = g / K
        var gradX = plan.InputGrad ? empty_like(x) : null;                            // [K, E]
        var gradW = plan.WeightGrad ? zeros(weight.shape, dtype: accumulate, device: x.device) : null;   // [V, E]
        for (long start = 0; start < k; start += plan.ChunkTokens)
        {
            using var chunk = NewDisposeScope();
            long c = Math.Min(plan.ChunkTokens, k - start);
            var xc = x.narrow(0, start, c);                                           // [C, E]
            var z = Logits(xc, w, plan.Compute, accumulate);                          // [C, V]
            var index = targets.narrow(0, start, c).unsqueeze(1);                     // [C, 1]
            var dz = z.sub_(lse.narrow(0, start, c).unsqueeze(1)).exp_();             // softmax [C, V]
            dz.scatter_(1, index, dz.gather(1, index).sub(OneTensor(dz)));           // − onehot(target)
            var dzc = dz.mul_(scale).to(plan.Compute);                                // [C, V]
            if (gradX is not null) gradX.narrow(0, start, c).copy_(dzc.matmul(w));   // [C, E]
            if (gradW is not null) gradW.add_(dzc.t().matmul(xc.to(plan.Compute)).to(accumulate), Scalars.One);   // [V, E]
        }
        var dw = gradW is null ? null : (gradW.dtype == weight.dtype ? gradW : gradW.to(weight.dtype));
        return [gradX?.MoveToOuterDisposeScope()!, dw?.MoveToOuterDisposeScope()!, null!, null!];
    }

    /// <summary>[C, V] logits of one chunk in the accumulate dtype: x → compute dtype, · Wᵀ, → accumulate.</summary>
    static Tensor Logits(Tensor x, Tensor w, ScalarType compute, ScalarType accumulate)
    {
        var input = x.dtype == compute ? x : x.to(compute);                            // [C, E]
        var z = nn.functional.linear(input, w);                                        // [C, V] compute dtype
        return z.dtype == accumulate ? z : z.to(accumulate);
    }

    static Tensor OneTensor(Tensor like) => ones(1, dtype: like.dtype, device: like.device);
}
