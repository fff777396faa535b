using static TorchSharp.torch;

using QstOrleans.Model.Layers;

namespace QstOrleans.Model.Attention;

/// <summary>How a decoder layer turns q, k, v and the additive mask into its mixed values (HF's <c>attn_implementation</c>).</summary>
public enum AttentionKernel
{
    /// <summary>
    /// The eager math, but autograd saves no scores: forward keeps only q, k, v and the mask, and backward recomputes the
    /// [B, n_h, T, T] scores and probabilities once before backpropagating through them (<see cref="RecomputedAttention"/>).
    /// Gradients bitwise equal to <see cref="Eager"/> (same kernels, same order). At the 1B shape (22 layers, 32 heads,
    /// T = 256) that is ≈ 370 MiB (bf16 scores) to 720 MiB (fp32) of saved scores a training step no longer holds, for one
    /// extra attention forward per layer; on this CPU it measured ≈ 2× faster fwd+bwd than libtorch's fused kernel in bf16
    /// (head dim 4: 7 vs 10–12 ms per side layer; head dim 64: ≈ 10 vs 17 ms). The default everywhere. Without a graph
    /// (the frozen backbone, evaluation, generation) it is the eager forward: one layer's scores exist at a time.
    /// </summary>
    Recompute,
    /// <summary>
    /// libtorch's fused <c>scaled_dot_product_attention</c> (on CPU its flash kernel): scores are computed block by block and
    /// never stored, backward recomputes them from q, k, v, the output and the saved fp32 log-sum-exp [B, n_h, T].
    /// Also memory-lean; slower than <see cref="Recompute"/> on this CPU in bf16. Opt-in (benchmarks, tests).
    /// </summary>
    Fused,
    /// <summary>The scores written out and saved by autograd (matmul, mask, softmax, matmul): the spec's math step by step,
    /// as before session 9. The tests' reference path.</summary>
    Eager,
}

/// <summary>The fused attention call shared by the Llama and OPT layers.</summary>
public static class FusedAttention
{
    /// <param name="q">[B, n_h, T, hd] in the compute dtype, unscaled (the kernel multiplies q·kᵀ by 1/√hd).</param>
    /// <param name="k">[B, n_h, T_past + T, hd] (GQA heads already repeated).</param>
    /// <param name="v">[B, n_h, T_past + T, hd].</param>
    /// <returns>[B, n_h, T, hd] in the compute dtype. The kernel accumulates in fp32 (fp64 for fp64 inputs), so the
    /// softmax sees the same precision as the eager path's fp32 scores.</returns>
    public static Tensor Apply(Tensor q, Tensor k, Tensor v, AttentionContext context) =>
        // The mask in q's dtype: masked entries at the dtype's most negative finite value, so a row whose keys are all
        // masked (leading padding) stays finite like the eager path's instead of turning into NaN.
        nn.functional.scaled_dot_product_attention(q, k, v, context.MaskIn(q.dtype), 0.0, false);
}

/// <summary>The kernels' names on command lines and in benchmark records: recompute, fused, eager.</summary>
public static class AttentionKernels
{
    public static readonly string[] Names = ["recompute", "fused", "eager"];

    public static string Name(AttentionKernel kernel) => Names[(int)kernel];

    /// <exception cref="ArgumentException">Any other name (the message lists the names).</exception>
    public static AttentionKernel Parse(string name) => Array.IndexOf(Names, name.ToLowerInvariant()) is var i and >= 0
        ? (AttentionKernel)i
        : throw new ArgumentException($"unknown attention kernel '{name}' ({string.Join(", ", Names)})");
}
