using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>
/// Shifted token-level cross-entropy (spec §1.6): position t predicts label t+1, labels equal to
/// <see cref="IgnoreIndex"/> are skipped, the result is the mean over kept positions (fp32).
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
        long t = logits.shape[1], v = logits.shape[2];
        var predicted = logits.narrow(1, 0, t - 1).reshape(-1, v);                     // [B·(T−1), V]
        var targets = labels.narrow(1, 1, t - 1).reshape(-1);                          // [B·(T−1)]
        var loss = nn.functional.cross_entropy(predicted.dtype == ScalarType.Float64 ? predicted : predicted.to(ScalarType.Float32), targets, ignore_index: IgnoreIndex);
        return loss.MoveToOuterDisposeScope();
    }
}
