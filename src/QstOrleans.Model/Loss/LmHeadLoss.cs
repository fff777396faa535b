using QstOrleans.Model.Layers;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Model.Loss;

/// <summary>
/// The LM head and the shifted cross-entropy (spec §1.6) in one call, for every method: position t predicts label t+1,
/// labels equal to <see cref="CausalLmLoss.IgnoreIndex"/> are skipped, the result is the mean over kept positions.
/// Equal to <c>CausalLmLoss.Compute(head.Forward(f), labels)</c> within fp32 rounding, but it never materializes the
/// [B, T, V] logits: the labels are shifted (not the logits), only kept positions go through the head, and
/// <see cref="ChunkedHeadLoss"/> takes them <see cref="DefaultChunkTokens"/> at a time in forward and again in backward
/// (measured at 134M, batch 4 × 128: QST's training peak above the loaded model went from 512 MiB with the plain path
/// to 247 MiB; tests/bench/results/issue14-134m.json).
/// </summary>
public static class LmHeadLoss
{
    /// <summary>Tokens per head chunk. A chunk's [C, V] fp32 logits are 31 MiB at C = 256, V = 32000 (125 MiB at 1024),
    /// and the peak holds about two such buffers (fp32 logits + bf16 copies); 256 rows still keep the head matmul
    /// ([256, E]·[E, V]) large enough to run at full speed.</summary>
    public const int DefaultChunkTokens = 256;

    /// <summary>Loss through a frozen head (QST, LoRA, QLoRA): gradients flow into <paramref name="f"/> only.</summary>
    /// <param name="f">[B, T, E] fp32 (fp64 in gradient checks): the last hidden state the head reads.</param>
    /// <param name="labels">[B, T] int64 with −100 for ignored positions.</param>
    /// <returns>Scalar loss in f's dtype, with a graph to f (NaN when no label is kept, as PyTorch).</returns>
    public static Tensor Compute(FrozenLmHead head, Tensor f, Tensor labels, int chunkTokens = DefaultChunkTokens) =>
        Compute(f, head.ComputeWeight, head.ComputeDType, labels, chunkTokens);

    /// <summary>Loss through any head weight [V, E]; when it requires grad (full fine-tuning's trainable head, an fp32
    /// master copy cast to <paramref name="compute"/> per call) it gets its gradient too, accumulated over chunks in fp32.</summary>
    /// <param name="f">[B, T, E] fp32 (fp64 in gradient checks).</param>
    /// <param name="weight">[V, E] ([out, in]), no bias.</param>
    /// <param name="compute">The head's matmul dtype (bf16 normally).</param>
    /// <param name="labels">[B, T] int64 with −100 for ignored positions.</param>
    /// <exception cref="ArgumentException">Shapes that do not fit (named in the message) or a chunk length below 1.</exception>
    public static Tensor Compute(Tensor f, Tensor weight, ScalarType compute, Tensor labels, int chunkTokens = DefaultChunkTokens)
    {
        if (f.dim() != 3 || labels.dim() != 2 || f.shape[0] != labels.shape[0] || f.shape[1] != labels.shape[1])
            throw new ArgumentException($"LmHeadLoss: hidden [B, T, E] and labels [B, T] must agree, got [{string.Join(", ", f.shape)}] and [{string.Join(", ", labels.shape)}]");
        if (weight.dim() != 2 || weight.shape[1] != f.shape[2])
            throw new ArgumentException($"LmHeadLoss: head weight must be [V, {f.shape[2]}], got [{string.Join(", ", weight.shape)}]");
        if (chunkTokens < 1) throw new ArgumentException($"LmHeadLoss: chunk tokens must be >= 1, got {chunkTokens}");

        using var scope = NewDisposeScope();
        long b = f.shape[0], t = f.shape[1], e = f.shape[2];
        var next = Shift(labels).reshape(-1);                                          // [B·T]: the label position t predicts
        using var ignore = tensor(CausalLmLoss.IgnoreIndex, device: labels.device);
        var kept = next.ne(ignore).nonzero().squeeze(1);                               // [K]
        var rows = f.reshape(b * t, e).index_select(0, kept);                          // [K, E]
        var targets = next.index_select(0, kept);                                      // [K]
        var plan = new HeadLossPlan(compute, chunkTokens, f.requires_grad, weight.requires_grad);
        var loss = ChunkedHeadLoss.apply(rows, weight, targets, plan);                  // []
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>labels[:, 1:] followed by one ignored column: [B, T] int64, the target of every position.</summary>
    public static Tensor Shift(Tensor labels)
    {
        using var scope = NewDisposeScope();
        long b = labels.shape[0], t = labels.shape[1];
        using TorchSharp.Scalar ignore = CausalLmLoss.IgnoreIndex;                    // owned: see Scalars
        var pad = full([b, 1], ignore, dtype: ScalarType.Int64, device: labels.device);   // [B, 1]
        return cat([labels.narrow(1, 1, t - 1), pad], 1).MoveToOuterDisposeScope();
    }
}
