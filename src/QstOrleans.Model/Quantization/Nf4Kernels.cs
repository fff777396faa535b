using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// Raw-memory NF4 loops (the CPU hot path). Everything works on pointers into tensor storage so
/// no intermediate tensors are created: quantize reads the input in its own dtype and writes
/// packed bytes; dequantize writes bf16/fp32 straight into the output storage.
/// Work is split into chunks of whole 64-blocks and run with <see cref="Parallel.For(long, long, ParallelOptions, Action{long})"/>
/// on at most <c>torch.get_num_threads()</c> threads (inline when that is 1).
/// Dequantization picks an instruction set per call (<see cref="Nf4DecodePath"/>); all give the same bits.
/// Callers guarantee contiguous CPU storage and correct lengths; nothing is checked here.
/// Read top to bottom: <see cref="DequantizeF32"/> first, the plain decode w_i = code[nib_i] · absmax_{i/64} (the
/// arithmetic the tests' scalar reference restates); then the bf16 decode that dispatches whole blocks to the SIMD
/// decoders of <see cref="Nf4BlockDecoders"/> (whose scalar decoder comes first); then quantization; then the chunking.
/// </summary>
internal static unsafe class Nf4Kernels
{
    private const int BlockSize = Nf4Code.BlockSize;

    // 256 blocks = 16,384 elements per task: big enough to amortise scheduling, small enough
    // to balance a 4096-wide row set over a few cores.
    // Also a multiple of the 256-block nested absmax group, so a chunk's absmax uses one nested value per group of 8.
    internal const long BlocksPerChunk = 256;

    /// <summary>
    /// The reference decode: n NF4 elements to fp32, w_i = code[nib_i] · absmax_{i/64} (nib_i = high nibble of byte i/2 for
    /// even i, low for odd), no rounding beyond fp32, in parallel chunks. Every other decode must equal this, rounded.
    /// </summary>
    public static void DequantizeF32(IntPtr packed, long n, Nf4AbsmaxSource source, float[] code, IntPtr output)
    {
        long blocks = (n + BlockSize - 1) / BlockSize;
        bool simd = Nf4DecodePaths.Best >= Nf4DecodePath.Avx2;
        ForEachChunk(ChunkCount(blocks), chunk =>
        {
            float* table = stackalloc float[16];
            float* absmax = stackalloc float[(int)BlocksPerChunk];
            long b0 = chunk * BlocksPerChunk, b1 = Math.Min(b0 + BlocksPerChunk, blocks);
            source.Fill(b0, (int)(b1 - b0), absmax, simd);
            for (long b = b0; b < b1; b++)
            {
                float a = absmax[b - b0];
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

    /// <summary>
    /// Decodes n NF4 elements to bf16 with <paramref name="path"/> (see <see cref="Nf4BlockDecoders"/>):
    /// chunks of <see cref="BlocksPerChunk"/> blocks run in parallel; each chunk first decodes its
    /// blocks' absmax into a stack buffer, then its blocks. Full blocks with a finite absmax take the
    /// SIMD decoder; a partial last block or a NaN/Inf absmax takes the scalar one.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">The CPU lacks <paramref name="path"/>'s instructions.</exception>
    public static void DequantizeBf16(IntPtr packed, long n, Nf4AbsmaxSource absmax, float[] code, IntPtr output, Nf4DecodePath path)
    {
        if (!Nf4DecodePaths.IsSupported(path))
            throw new PlatformNotSupportedException($"NF4 decode path {path} is not supported on this CPU.");
        long blocks = (n + BlockSize - 1) / BlockSize;
        fixed (float* codePinned = code)
        {
            nint codeAddress = (nint)codePinned; // a fixed local cannot be captured; the array stays pinned until the loop returns
            ForEachChunk(ChunkCount(blocks), chunk =>
                DecodeChunkBf16((byte*)packed, n, absmax, (float*)codeAddress, (ushort*)output, path,
                    chunk * BlocksPerChunk, Math.Min((chunk + 1) * BlocksPerChunk, blocks)));
        }
    }

    private static void DecodeChunkBf16(byte* packed, long n, Nf4AbsmaxSource source, float* code, ushort* output,
        Nf4DecodePath path, long b0, long b1)
    {
        float* absmax = stackalloc float[(int)BlocksPerChunk];
        source.Fill(b0, (int)(b1 - b0), absmax, simd: path >= Nf4DecodePath.Avx2);
        var code512 = path == Nf4DecodePath.Avx512 ? Vector512.Load(code) : default;
        for (long b = b0; b < b1; b++)
        {
            float a = absmax[b - b0];
            long e0 = b * BlockSize;
            long len = Math.Min(BlockSize, n - e0);
            byte* src = packed + e0 / 2;
            ushort* dst = output + e0;
            if (len != BlockSize || !float.IsFinite(a) || path == Nf4DecodePath.Scalar)
                Nf4BlockDecoders.Scalar(src, dst, len, code, a);
            else if (path == Nf4DecodePath.Avx512)
                Nf4BlockDecoders.Avx512Block(src, dst, code512, a);
            else if (path == Nf4DecodePath.Avx2)
                Nf4BlockDecoders.Avx2Block(src, dst, code, a);
            else
                Nf4BlockDecoders.Ssse3Block(src, dst, code, a);
        }
    }

    /// <summary>
    /// Quantizes n elements of <paramref name="input"/> (dtype bf16, f16 or f32) into
    /// <paramref name="packed"/> ((n+1)/2 bytes, first element in the high nibble) and writes one
    /// fp32 absmax per 64-block into <paramref name="absmax"/>.
    /// </summary>
    public static void Quantize(IntPtr input, torch.ScalarType dtype, long n, IntPtr packed, float[] absmax)
    {
        long blocks = (n + BlockSize - 1) / BlockSize;
        ForEachChunk(ChunkCount(blocks), chunk =>
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
    /// Runs body(chunk) for every chunk on at most libtorch's intra-op thread count
    /// (<c>torch.get_num_threads()</c>). WHY: a pipeline worker that set one torch thread (and may be
    /// pinned to one core) must not fan its decode out over every core; with one thread the loop
    /// runs inline on the calling thread, with no thread-pool hand-off at all.
    /// </summary>
    private static void ForEachChunk(long chunks, Action<long> body)
    {
        int threads = Math.Max(1, torch.get_num_threads());
        if (threads == 1 || chunks == 1)
        {
            for (long c = 0; c < chunks; c++) body(c);
            return;
        }
        Parallel.For(0L, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
    }
}
