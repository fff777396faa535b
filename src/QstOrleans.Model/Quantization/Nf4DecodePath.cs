using System.Runtime.Intrinsics.X86;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// Which instruction set decodes NF4 blocks to bf16 (<see cref="Nf4Kernels.DequantizeBf16"/>).
/// Every path produces the same bits; they differ only in speed. Each is tested against a scalar
/// reference written in the tests.
/// </summary>
public enum Nf4DecodePath
{
    /// <summary>16-entry bf16 table per block, one lookup per nibble. Runs everywhere.</summary>
    Scalar,
    /// <summary>SSSE3 <c>pshufb</c>: 16 lookups per instruction (tables split into low and high bytes).</summary>
    Ssse3,
    /// <summary>AVX2 <c>vpshufb</c> on both 128-bit lanes: 32 lookups per instruction; AVX2 gathers for the double-quantized absmax.</summary>
    Avx2,
    /// <summary>AVX-512BW <c>vpermw</c>: 32 bf16 table lookups per instruction straight from 16-bit entries.</summary>
    Avx512,
}

/// <summary>What this CPU supports, and the fastest path. Throws nothing.</summary>
public static class Nf4DecodePaths
{
    /// <summary>Whether <paramref name="path"/> can run on this CPU (the SIMD paths assume little-endian memory).</summary>
    public static bool IsSupported(Nf4DecodePath path) => path == Nf4DecodePath.Scalar || BitConverter.IsLittleEndian && path switch
    {
        Nf4DecodePath.Ssse3 => Ssse3.IsSupported,
        // The table is built with 256-bit float ops and the absmax with AVX2 gathers.
        Nf4DecodePath.Avx2 => Avx2.IsSupported,
        Nf4DecodePath.Avx512 => Avx512F.IsSupported && Avx512BW.IsSupported && Avx2.IsSupported,
        _ => false,
    };

    /// <summary>The fastest supported path (AVX-512, then AVX2, SSSE3, scalar).</summary>
    public static Nf4DecodePath Best { get; } =
        IsSupported(Nf4DecodePath.Avx512) ? Nf4DecodePath.Avx512
        : IsSupported(Nf4DecodePath.Avx2) ? Nf4DecodePath.Avx2
        : IsSupported(Nf4DecodePath.Ssse3) ? Nf4DecodePath.Ssse3
        : Nf4DecodePath.Scalar;
}
