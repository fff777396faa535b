using System.Collections.Concurrent;
using static TorchSharp.torch;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// Reusable dequantization buffers keyed by (shape, dtype), shared by all <see cref="Nf4Linear"/>
/// layers. WHY: on this VM, first-touching a freshly allocated 32 MB tensor (page faults) took
/// ~150 ms against ~15 ms for decoding into a warm buffer, so a transient weight per call is
/// mostly page-fault cost. Layers of equal shape run one after another, so one buffer per shape
/// (per concurrent caller) serves the whole stack.
/// Buffers are detached from dispose scopes; <see cref="Clear"/> frees the idle ones.
/// Throws nothing.
/// </summary>
internal static class DequantScratchPool
{
    private static readonly ConcurrentDictionary<(string Shape, ScalarType DType), ConcurrentBag<Tensor>> Pool = new();

    private static (string, ScalarType) Key(long[] shape, ScalarType dtype) => (string.Join("x", shape), dtype);

    /// <summary>An idle buffer of this shape and dtype, or a new one (contents undefined).</summary>
    public static Tensor Rent(long[] shape, ScalarType dtype)
    {
        if (Pool.TryGetValue(Key(shape, dtype), out var bag) && bag.TryTake(out var t))
            return t;
        return empty(shape, dtype).DetachFromDisposeScope();
    }

    /// <summary>Gives a buffer back for reuse. The caller must hold no other reference that autograd saved.</summary>
    public static void Return(Tensor t) =>
        Pool.GetOrAdd(Key(t.shape, t.dtype), _ => new ConcurrentBag<Tensor>()).Add(t);

    /// <summary>Frees every idle buffer.</summary>
    public static void Clear()
    {
        foreach (var bag in Pool.Values)
            while (bag.TryTake(out var t))
                t.Dispose();
    }
}
