using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// Raw-memory NF4 loops (the CPU hot path). Everything works on pointers into tensor storage so
/// no intermediate tensors are created: quantize reads the input in its own dtype and writes
/// packed bytes; dequantize writes bf16/fp32 straight into the output storage.
/// Work is split into chunks of whole 64-blocks and run with <see cref="Parallel.For(long, long, Action{long})"/>.
/// Callers guarantee contiguous CPU storage and correct lengths; nothing is checked here.
/// </summary>
internal static unsafe class Nf4Kernels
{
    private const int BlockSize = Nf4Code.BlockSize;

    // 256 blocks = 16,384 elements per task: big enough to amortise scheduling, small enough
    // to balance a 4096-wide row set over a few cores.
    private const long BlocksPerChunk = 256;

    /// <summary>
    /// Address of a contiguous CPU tensor's storage. <c>Tensor.bytes</c> is a span over native
    /// memory, so fixing it pins nothing and the address stays valid while the tensor lives.
    /// </summary>
    public static IntPtr Address(torch.Tensor t)
    {
        fixed (byte* p = t.bytes)
            return (IntPtr)p;
    }

    private static long ChunkCount(long blocks) => (blocks + BlocksPerChunk - 1) / BlocksPerChunk;

    /// <summary>
    /// Quantizes n elements of <paramref name="input"/> (dtype bf16, f16 or f32) into
    /// <paramref name="packed"/> ((n+1)/2 bytes, first element in the high nibble) and writes one
    /// fp32 absmax per 64-block into <paramref name="absmax"/>.
    /// </summary>
    public static void Quantize(IntPtr input, torch.ScalarType dtype, long n, IntPtr packed, float[] absmax)
    {
        long blocks = (n + BlockSize - 1) / BlockSize;
        Parallel.For(0L, ChunkCount(blocks), chunk =>
        {
            float* x = stackalloc float[BlockSize];
            long b1 = Math.Min((chunk + 1) * BlocksPerChunk, blocks);
            for (long b = chunk * BlocksPerChunk; b < b1; b++)
            {
                long e0 = b * BlockSize;
                int len = (int)Math.Min(BlockSize, n - e0);
                Load(input, dtype, e0, len, x);

                float amax = 0f;
                for (int i = 0; i < len; i++)
                    amax = Math.Max(amax, Math.Abs(x[i]));
                absmax[b] = amax;

                byte* dst = (byte*)packed + e0 / 2; // e0 is even: blocks start on a byte
                if (amax == 0f)
                {
                    // Deviation from bitsandbytes (spec §9.2): it computes 0 * (1/0) = NaN and emits
                    // index 0 (-1.0), which under double quant decodes to a small negative value
                    // because the reconstructed absmax is not exactly 0. We emit index 7 (0.0) so an
                    // all-zero block always decodes to exact zeros.
                    for (int i = 0; i < len; i += 2)
                        dst[i / 2] = i + 1 < len ? (byte)0x77 : (byte)0x70;
                    continue;
                }

                float scale = 1f / amax; // fp32 reciprocal then multiply, as the CUDA kernel does
                for (int i = 0; i < len; i += 2)
                {
                    int hi = Nf4Code.Quantize(x[i] * scale);
                    int lo = i + 1 < len ? Nf4Code.Quantize(x[i + 1] * scale) : 0; // odd n: pad nibble 0
                    dst[i / 2] = (byte)((hi << 4) | lo);
                }
            }
        });
    }

    /// <summary>Widens len elements starting at element e0 of the input to fp32.</summary>
    private static void Load(IntPtr input, torch.ScalarType dtype, long e0, int len, float* x)
    {
        switch (dtype)
        {
            case torch.ScalarType.Float32:
                new ReadOnlySpan<float>((float*)input + e0, len).CopyTo(new Span<float>(x, len));
                break;
            case torch.ScalarType.BFloat16:
                ushort* bf = (ushort*)input + e0;
                for (int i = 0; i < len; i++) x[i] = BFloat16Bits.ToFloat(bf[i]);
                break;
            case torch.ScalarType.Float16:
                Half* h = (Half*)input + e0;
                for (int i = 0; i < len; i++) x[i] = (float)h[i];
                break;
            default:
                throw new InvalidOperationException($"Unsupported dtype {dtype} reached the NF4 kernel.");
        }
    }

    /// <summary>
    /// Decodes n NF4 elements to bf16: per block a 16-entry table of bf16(code[k] · absmax), then
    /// a table lookup per nibble. Rounding each table entry once is bit-identical to rounding every
    /// element's fp32 product. Full blocks use SSSE3 byte shuffles (16 lookups per instruction)
    /// where available; partial blocks and other CPUs use the scalar loop.
    /// </summary>
    public static void DequantizeBf16(IntPtr packed, long n, float[] absmax, float[] code, IntPtr output)
    {
        long blocks = (n + BlockSize - 1) / BlockSize;
        bool simd = Ssse3.IsSupported && BitConverter.IsLittleEndian;
        Parallel.For(0L, ChunkCount(blocks), chunk =>
        {
            ushort* table = stackalloc ushort[16];
            long b1 = Math.Min((chunk + 1) * BlocksPerChunk, blocks);
            fixed (float* codePtr = code)
            {
                for (long b = chunk * BlocksPerChunk; b < b1; b++)
                {
                    float a = absmax[b];
                    long e0 = b * BlockSize;
                    long len = Math.Min(BlockSize, n - e0);
                    byte* src = (byte*)packed + e0 / 2;
                    ushort* dst = (ushort*)output + e0;
                    if (simd && len == BlockSize && float.IsFinite(a))
                    {
                        DecodeBlockBf16Ssse3(src, dst, codePtr, a);
                        continue;
                    }
                    for (int k = 0; k < 16; k++)
                        table[k] = BFloat16Bits.FromFloat(code[k] * a);
                    DecodeScalarBf16(src, dst, len, table);
                }
            }
        });
    }

    private static void DecodeScalarBf16(byte* src, ushort* dst, long len, ushort* table)
    {
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

    /// <summary>One full 64-element block (32 packed bytes) with SSSE3. a must be finite.</summary>
    private static void DecodeBlockBf16Ssse3(byte* src, ushort* dst, float* code, float a)
    {
        // Table: bf16 bits of code[k]·a, rounded to nearest even (finite inputs: no NaN special case).
        var scale = Vector256.Create(a);
        var p0 = (Vector256.Load(code) * scale).AsUInt32();
        var p1 = (Vector256.Load(code + 8) * scale).AsUInt32();
        var bias = Vector256.Create(0x7FFFu);
        var one = Vector256.Create(1u);
        var r0 = (p0 + bias + ((p0 >> 16) & one)) >> 16;
        var r1 = (p1 + bias + ((p1 >> 16) & one)) >> 16;
        var bf = Vector256.Narrow(r0, r1); // 16 × bf16 bits (truncating narrow; values < 2^16)
        // pshufb looks up bytes, so split the 16-bit entries into a low-byte and a high-byte table.
        var tLo = Vector128.Narrow(bf.GetLower(), bf.GetUpper());
        var tHi = Vector128.Narrow(bf.GetLower() >> 8, bf.GetUpper() >> 8);

        var nibble = Vector128.Create((byte)0x0F);
        for (int c = 0; c < 2; c++)
        {
            var v = Vector128.Load(src + 16 * c);                // 16 bytes = 32 elements
            var hiN = (v.AsUInt16() >> 4).AsByte() & nibble;       // even elements
            var loN = v & nibble;                                  // odd elements
            var idxA = Sse2.UnpackLow(hiN, loN);                   // elements 0..15 in order
            var idxB = Sse2.UnpackHigh(hiN, loN);                  // elements 16..31
            StoreLookup(tLo, tHi, idxA, dst + 32 * c);
            StoreLookup(tLo, tHi, idxB, dst + 32 * c + 16);
        }
    }

    private static void StoreLookup(Vector128<byte> tLo, Vector128<byte> tHi, Vector128<byte> idx, ushort* dst)
    {
        var lo = Ssse3.Shuffle(tLo, idx);
        var hi = Ssse3.Shuffle(tHi, idx);
        Sse2.UnpackLow(lo, hi).Store((byte*)dst);        // elements 0..7 as little-endian bf16
        Sse2.UnpackHigh(lo, hi).Store((byte*)(dst + 8)); // elements 8..15
    }

    /// <summary>Decodes n NF4 elements to fp32 (code[k] · absmax, no rounding beyond fp32).</summary>
    public static void DequantizeF32(IntPtr packed, long n, float[] absmax, float[] code, IntPtr output)
    {
        long blocks = (n + BlockSize - 1) / BlockSize;
        Parallel.For(0L, ChunkCount(blocks), chunk =>
        {
            float* table = stackalloc float[16];
            long b1 = Math.Min((chunk + 1) * BlocksPerChunk, blocks);
            for (long b = chunk * BlocksPerChunk; b < b1; b++)
            {
                float a = absmax[b];
                for (int k = 0; k < 16; k++)
                    table[k] = code[k] * a;

                long e0 = b * BlockSize;
                long len = Math.Min(BlockSize, n - e0);
                long pairs = len / 2;
                byte* src = (byte*)packed + e0 / 2;
                float* dst = (float*)output + e0;
                for (long j = 0; j < pairs; j++)
                {
                    byte v = src[j];
                    dst[2 * j] = table[v >> 4];
                    dst[2 * j + 1] = table[v & 0x0F];
                }
                if ((len & 1) != 0)
                    dst[len - 1] = table[src[pairs] >> 4];
            }
        });
    }
}
