using System.Diagnostics;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// Process-wide time spent dequantizing NF4 weights (<see cref="Nf4Tensor.Dequantize"/>, <see cref="Nf4Tensor.DequantizeInto(TorchSharp.torch.Tensor)"/>):
/// the silo exports it as <c>qst_nf4_dequant_seconds_total</c> and <c>qst_nf4_dequant_calls_total</c>. It is host wall time:
/// on CUDA the kernels run asynchronously, so there it is launch time unless something synchronizes inside the call.
/// </summary>
public static class Nf4DequantClock
{
    static long _ticks, _calls;

    /// <summary>Dequantization calls so far.</summary>
    public static long Calls => Interlocked.Read(ref _calls);

    /// <summary>Seconds spent in them so far.</summary>
    public static double Seconds => (double)Interlocked.Read(ref _ticks) / Stopwatch.Frequency;

    /// <summary>Counts one call that started at <paramref name="startTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    internal static void Add(long startTimestamp)
    {
        Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - startTimestamp);
        Interlocked.Increment(ref _calls);
    }
}
