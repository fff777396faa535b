using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>How a decoder layer turns q, k, v and the additive mask into its mixed values (HF's <c>attn_implementation</c>).</summary>
public enum AttentionKernel
{
    /// <summary>
    /// libtorch's fused <c>scaled_dot_product_attention</c> (on CPU its flash kernel): scores are computed block by block
    /// and never stored; backward recomputes them from q, k, v, the output and the saved log-sum-exp [B, n_h, T].
    /// At the 1B shape (22 layers, 32 heads, T = 256) that is ≈ 370 MiB (bf16) to 720 MiB (fp32) of saved scores that a
    /// training step no longer holds, in every method. The default everywhere.
    /// </summary>
    Fused,
    /// <summary>The scores written out (matmul, mask, softmax, matmul): the spec's math step by step. Tests' reference path.</summary>
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
