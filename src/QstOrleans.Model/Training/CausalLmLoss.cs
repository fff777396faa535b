using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>
/// Shifted token-level cross-entropy (spec §1.6): position t predicts label t+1, labels equal to
/// <see cref="IgnoreIndex"/> are skipped, the result is the mean over kept positions (fp32).
/// This is the plain path over materialized logits (evaluation); training goes through <see cref="Loss.LmHeadLoss"/>,
/// which gives the same loss without the [B, T, V] logits.
/// </summary>
public static class CausalLmLoss
{
    public const long IgnoreIndex = -100;

    /// <param name="logits">[B, T, V] fp32.</param>
    /// <param name="labels">[B, T] int64 with −100 for ignored positions.</param>
    /// <returns>Scalar fp32 loss (NaN when no label is kept, as PyTorch does).</returns>
    public static Tensor Compute(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        long v = logits.shape[2];
        // Shift the labels, not the logits: the last position gets an ignored label, so the logits are read as a
        // view (no narrowed [B, T−1, V] copy) and the kept positions and mean are the same.
        var predicted = logits.reshape(-1, v);                                          // [B·T, V]
        var targets = Loss.LmHeadLoss.Shift(labels).reshape(-1);                        // [B·T]
        var loss = nn.functional.cross_entropy(predicted.dtype is ScalarType.Float64 or ScalarType.Float32 ? predicted : predicted.to(ScalarType.Float32), targets, ignore_index: IgnoreIndex);
        return loss.MoveToOuterDisposeScope();
    }
}
