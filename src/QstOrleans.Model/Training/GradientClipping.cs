using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>
/// Global-norm gradient clipping that can be computed in pieces: each holder of parameters (the side trainer, every stage
/// that owns adapter projections) computes the squared L2 norm of each of its gradients in float64; one place adds them
/// in the parameter order of the single-process optimizer, takes the square root and derives the clip coefficient; every
/// holder scales its gradients by that same fp32 coefficient. The single-process trainer runs the same three functions
/// over all parameters, so the pieces add up bitwise to it.
/// <code>
/// sᵢ    = Σ gᵢ²  (float64)                 per parameter, where the gradient lives
/// norm  = √(s₀ + s₁ + …)  (float64, in order)
/// coef  = max_norm / (norm + 1e-6)         PyTorch's clip_grad_norm_ formula
/// gᵢ   ← gᵢ · (float)coef   when coef &lt; 1
/// </code>
/// </summary>
public static class GradientClipping
{
    /// <summary>Σ g² in float64 of each gradient (0 for a parameter without one), read back in one host transfer.</summary>
    public static double[] SquaredNorms(IReadOnlyList<Tensor?> gradients)
    {
        // Every read of Parameter.grad is a new handle; the caller's tensors are only read. One scope frees the temporaries.
        using var scope = NewDisposeScope();
        var squares = new List<Tensor>(gradients.Count);
        var present = new List<int>(gradients.Count);
        for (int i = 0; i < gradients.Count; i++)
        {
            if (gradients[i] is not { } grad) continue;
            var wide = grad.to(ScalarType.Float64);
            squares.Add((wide * wide).sum());   // not pow(2): a number operand would be a temporary Scalar (see AdamW)
            present.Add(i);
        }
        var result = new double[gradients.Count];
        if (squares.Count == 0) return result;
        var values = stack(squares).cpu().data<double>().ToArray();
        for (int k = 0; k < present.Count; k++) result[present[k]] = values[k];
        return result;
    }

    /// <summary>√(Σ squares) added in the given order (the single-process optimizer's parameter order).</summary>
    public static double Norm(IEnumerable<double> squaredNorms)
    {
        double sum = 0;
        foreach (var s in squaredNorms) sum += s;
        return Math.Sqrt(sum);
    }

    /// <summary>The factor every gradient is multiplied by: 1 when clipping is off or the norm is within <paramref name="maxNorm"/>.</summary>
    public static float Coefficient(double norm, double maxNorm) =>
        maxNorm > 0 && maxNorm / (norm + 1e-6) < 1 ? (float)(maxNorm / (norm + 1e-6)) : 1f;

    /// <summary>Multiplies every gradient in place by <paramref name="coefficient"/> (nothing when it is 1).</summary>
    public static void Scale(IEnumerable<Tensor?> gradients, float coefficient)
    {
        if (coefficient == 1f) return;
        using var scope = NewDisposeScope();
        var factor = tensor(coefficient);   // a 0-dim fp32 tensor, not a Scalar: nothing the GC can free mid-call
        foreach (var grad in gradients) grad?.mul_(factor);
    }
}
