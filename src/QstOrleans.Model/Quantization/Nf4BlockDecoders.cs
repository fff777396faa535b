using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// Decoders of one 64-element NF4 block (32 packed bytes, first element in the high nibble) to bf16,
/// one per <see cref="Nf4DecodePath"/>. Each builds the block's 16-entry table bf16(code[k] · absmax)
/// (rounding each entry once is bit-identical to rounding every element's fp32 product) and looks
/// the nibbles up in it. The SIMD decoders need a finite absmax and a full block; the caller sends
/// anything else to <see cref="Scalar"/>. Nothing is checked here.
/// </summary>
internal static unsafe class Nf4BlockDecoders
{
    /// <summary>Any block length, any absmax (NaN and Inf follow <see cref="BFloat16Bits.FromFloat"/>).</summary>
    public static void Scalar(byte* src, ushort* dst, long len, float* code, float a)
    {
        ushort* table = stackalloc ushort[16];
        for (int k = 0; k < 16; k++)
            table[k] = BFloat16Bits.FromFloat(code[k] * a);
        long pairs = len / 2;
        // Two bf16 per uint: on little-endian the even (high-nibble) element is the low half.
        uint* dst32 = (uint*)dst;
        for (long j = 0; j < pairs; j++)
        {
            byte v = src[j];
            dst32[j] = table[v >> 4] | ((uint)table[v & 0x0F] << 16);
        }
        if ((len & 1) != 0)
            dst[len - 1] = table[src[pairs] >> 4];
    }

    /// <summary>16 bf16 bit patterns (in uint lanes of two vectors) of code[k]·a, rounded to nearest even; a finite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> Table256(float* code, float a)
    {
        var scale = Vector256.Create(a);
        var r0 = RoundToBf16((Vector256.Load(code) * scale).AsUInt32());
        var r1 = RoundToBf16((Vector256.Load(code + 8) * scale).AsUInt32());
        return Vector256.Narrow(r0, r1); // values < 2^16 after the shift: the truncating narrow is exact
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RoundToBf16(Vector256<uint> p) =>
        (p + Vector256.Create(0x7FFFu) + ((p >> 16) & Vector256.Create(1u))) >> 16;

    /// <summary>pshufb looks up bytes, so split the 16-bit entries into a low-byte and a high-byte table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<byte> Lo, Vector128<byte> Hi) ByteTables(float* code, float a)
    {
        var bf = Table256(code, a);
        return (Vector128.Narrow(bf.GetLower(), bf.GetUpper()), Vector128.Narrow(bf.GetLower() >> 8, bf.GetUpper() >> 8));
    }

    /// <summary>SSSE3: 4 × 16 lookups.</summary>
    public static void Ssse3Block(byte* src, ushort* dst, float* code, float a)
    {
        var (tLo, tHi) = ByteTables(code, a);
        var nibble = Vector128.Create((byte)0x0F);
        for (int c = 0; c < 2; c++)
        {
            var v = Vector128.Load(src + 16 * c);                  // 16 bytes = 32 elements
            var hiN = (v.AsUInt16() >> 4).AsByte() & nibble;       // even elements
            var loN = v & nibble;                                  // odd elements
            Lookup128(tLo, tHi, Sse2.UnpackLow(hiN, loN), dst + 32 * c);       // elements 0..15 of the 32
            Lookup128(tLo, tHi, Sse2.UnpackHigh(hiN, loN), dst + 32 * c + 16); // elements 16..31
        }
    }

    private static void Lookup128(Vector128<byte> tLo, Vector128<byte> tHi, Vector128<byte> idx, ushort* dst)
    {
        var lo = Ssse3.Shuffle(tLo, idx);
        var hi = Ssse3.Shuffle(tHi, idx);
        Sse2.UnpackLow(lo, hi).Store((byte*)dst);        // elements 0..7 as little-endian bf16
        Sse2.UnpackHigh(lo, hi).Store((byte*)(dst + 8)); // elements 8..15
    }

    /// <summary>
    /// AVX2: the byte tables in both 128-bit lanes, 2 × 32 lookups. The unpacks work within lanes, so
    /// lane 0 holds elements of the first 16 packed bytes and lane 1 of the last 16; a cross-lane
    /// permute puts them back in order at the stores.
    /// </summary>
    public static void Avx2Block(byte* src, ushort* dst, float* code, float a)
    {
        var (lo128, hi128) = ByteTables(code, a);
        var tLo = Vector256.Create(lo128, lo128);
        var tHi = Vector256.Create(hi128, hi128);
        var nibble = Vector256.Create((byte)0x0F);
        var v = Vector256.Load(src);                          // 32 bytes = 64 elements
        var hiN = (v.AsUInt16() >> 4).AsByte() & nibble;      // even elements
        var loN = v & nibble;                                 // odd elements
        Lookup256(tLo, tHi, Avx2.UnpackLow(hiN, loN), dst, dst + 32);       // lanes: elements 0..15 | 32..47
        Lookup256(tLo, tHi, Avx2.UnpackHigh(hiN, loN), dst + 16, dst + 48); // lanes: elements 16..31 | 48..63
    }

    private static void Lookup256(Vector256<byte> tLo, Vector256<byte> tHi, Vector256<byte> idx, ushort* first, ushort* second)
    {
        var lo = Avx2.Shuffle(tLo, idx);
        var hi = Avx2.Shuffle(tHi, idx);
        var w0 = Avx2.UnpackLow(lo, hi);   // lanes: elements 0..7 of the lane-0 group | of the lane-1 group
        var w1 = Avx2.UnpackHigh(lo, hi);  // lanes: elements 8..15 of each group
        Avx2.Permute2x128(w0, w1, 0x20).Store((byte*)first);   // lane 0 of each: the first group
        Avx2.Permute2x128(w0, w1, 0x31).Store((byte*)second);  // lane 1 of each: the second group
    }

    /// <summary>
    /// AVX-512BW: the 16 bf16 entries sit in one register and <c>vpermw</c> looks up 32 16-bit
    /// entries per instruction. Each packed byte is widened to a 32-bit lane holding
    /// (high nibble) | (low nibble) &lt;&lt; 16, which read as two 16-bit indices is the element order.
    /// </summary>
    public static void Avx512Block(byte* src, ushort* dst, Vector512<float> code, float a)
    {
        var p = (code * Vector512.Create(a)).AsUInt32();
        var rounded = (p + Vector512.Create(0x7FFFu) + ((p >> 16) & Vector512.Create(1u))) >> 16;
        var table = Avx512F.ConvertToVector256UInt16(rounded).ToVector512Unsafe(); // entries 0..15 used
        var nibble = Vector512.Create(0x0Fu);
        for (int c = 0; c < 2; c++)
        {
            var v = Avx512F.ConvertToVector512UInt32(Vector128.Load(src + 16 * c)); // 16 bytes → 16 uint
            var idx = (v >> 4) | ((v & nibble) << 16);                              // [even, odd] index pairs
            Avx512BW.PermuteVar32x16(table, idx.AsUInt16()).Store(dst + 32 * c);    // 32 elements
        }
    }
}
