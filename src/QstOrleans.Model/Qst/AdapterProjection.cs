using QstOrleans.Model.Layers;
using static TorchSharp.torch;

namespace QstOrleans.Model.Qst;

/// <summary>
/// The split form of a downsample adapter's first projection, written once for every place that runs it (lean taps):
/// U = W_A · x where x lives (the stage that owns the layer, or the single-process trainer), the rest of the adapter on
/// the side network over U, and ∂L/∂W_A formed where x lives from G = ∂L/∂U:
/// <code>
/// U    = linear(x.to(compute), W_A)        // [B, T, p]  autograd graph W_A → U kept (x itself has no gradient)
/// side network over U (a leaf) → G = ∂L/∂U // [B, T, p]  (Model/Recipe/SideMicroStep.cs)
/// U.backward(G)                            // W_A.grad += Gᵀ · x   (linear's own backward, through the dtype cast)
/// </code>
/// Because the single-process trainer and the stage grains both call these two functions with the same tensors, in the
/// same order (taps in index order, micro-batches in sequence order), the distributed run equals the single-process one
/// bitwise. Tap t reads adapter <see cref="AdapterOfTap"/>(t): A_0 serves the embedding output and layer 0's output.
/// </summary>
public static class AdapterProjection
{
    /// <summary>The adapter index that reads tap <paramref name="tap"/> (0 = embedding output, l + 1 = layer l's output).</summary>
    public static int AdapterOfTap(int tap) => Math.Max(0, tap - 1);

    /// <summary>U = W_A · x in the compute dtype. Records the graph W_A → U when called with gradients enabled.</summary>
    /// <param name="x">[B, T, H] frozen backbone state.</param>
    /// <returns>[B, T, p] in <paramref name="compute"/>.</returns>
    public static Tensor Project(DenseLinear weightA, Tensor x, ScalarType compute)
    {
        using var input = x.dtype == compute ? null : x.to(compute);
        return weightA.forward(input ?? x);
    }

    /// <summary>Accumulates ∂L/∂W_A = Gᵀ · x into W_A's gradient through the graph <see cref="Project"/> recorded, then frees it.</summary>
    /// <param name="u">[B, T, p] the tracked projection.</param>
    /// <param name="gradient">[B, T, p] G = ∂L/∂U, in U's dtype.</param>
    public static void Backward(Tensor u, Tensor gradient) => u.backward([gradient]);
}
