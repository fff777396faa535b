using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>
/// The frozen LM head (bf16 as in the reference, or the checkpoint's embedding when tied):
/// logits = f·W_lmᵀ in the compute dtype, returned in fp32. Gradients flow through it into f
/// (the side network's output) but never into W, which is a plain tensor, not a parameter.
/// Training never calls <see cref="Forward"/>: <c>Loss.LmHeadLoss</c> multiplies by <see cref="ComputeWeight"/> in chunks
/// (no [B, T, V] logits); <see cref="Forward"/> is for evaluation and generation.
/// </summary>
public sealed class FrozenLmHead : IDisposable
{
    /// <summary>[V, E] stored dtype (bf16 normally).</summary>
    public Tensor Weight { get; }
    readonly ScalarType _compute, _accumulate;
    readonly Tensor? _computeWeight;   // [V, E] ([out, in]): cached cast when storage and compute dtypes differ

    public FrozenLmHead(Tensor weight, Precision precision)
    {
        Weight = weight.detach();
        _compute = precision.Compute;
        _accumulate = precision.Accumulate;
        if (Weight.dtype != _compute) _computeWeight = Weight.to(_compute);
    }

    public long VocabSize => Weight.shape[0];

    /// <summary>[V, E] in the compute dtype (the cached cast, or <see cref="Weight"/> itself): what the head multiplies by.</summary>
    public Tensor ComputeWeight => _computeWeight ?? Weight;

    /// <summary>The head's matmul dtype (bf16 normally).</summary>
    public ScalarType ComputeDType => _compute;

    /// <param name="f">[B, T, E] fp32.</param>
    /// <returns>[B, T, V] fp32.</returns>
    public Tensor Forward(Tensor f)
    {
        using var input = f.to(_compute);
        using var logits = nn.functional.linear(input, _computeWeight ?? Weight);
        return logits.to(_accumulate);
    }

    public void Dispose()
    {
        Weight.Dispose();
        _computeWeight?.Dispose();
    }
}
