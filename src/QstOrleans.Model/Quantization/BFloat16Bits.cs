using System.Runtime.CompilerServices;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// fp32 ↔ bf16 bit conversions written out by hand for the dequantization hot path.
/// Features: round-to-nearest-even narrowing (what PyTorch's and CUDA's float→bf16 casts do),
/// any NaN → canonical quiet NaN 0x7FC0 (as PyTorch), ±Inf and overflow to ±Inf preserved; exact widening.
/// Throws nothing.
/// </summary>
public static class BFloat16Bits
{
    /// <summary>bf16 bit pattern of x, rounded to nearest, ties to even.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        // NaN: adding the rounding bias could carry a NaN payload into the Inf pattern; PyTorch's
        // c10 conversion returns the canonical quiet NaN 0x7FC0 for every NaN, so do the same.
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
            return 0x7FC0;
        // Round to nearest even: add 0x7FFF plus the lowest kept bit, then truncate.
        uint bias = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + bias) >> 16);
    }

    /// <summary>fp32 value of a bf16 bit pattern (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
