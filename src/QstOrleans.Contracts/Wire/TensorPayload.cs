namespace QstOrleans.Contracts.Wire;

/// <summary>Element type of a tensor on the wire (no TorchSharp in the contracts).</summary>
public enum WireDType
{
    /// <summary>IEEE fp32.</summary>
    Float32,
    /// <summary>bfloat16 (the upper half of an fp32).</summary>
    BFloat16,
    /// <summary>64-bit integers (token ids, labels, masks).</summary>
    Int64,
}

/// <summary>
/// A tensor as raw little-endian bytes + dtype + shape. Immutable, so Orleans passes it between grains
/// of one silo without a deep copy; byte[] is 2–4× cheaper to serialize than float[].
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TensorPayload(
    [property: Id(0)] byte[] Data,
    [property: Id(1)] long[] Shape,
    [property: Id(2)] WireDType DType)
{
    /// <summary>Product of the shape.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}
