using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// Where the decode kernels read each 64-block's absmax from: a plain fp32 vector, or the
/// double-quantized parts (uint8 DYN indices, the 256-entry map, one fp32 nested absmax per 256
/// blocks, the offset). WHY: decoding the absmax per chunk, inside the parallel decode, keeps it in
/// L1 and spreads it over the cores, instead of a separate single-threaded pass over all blocks
/// before every dequantization.
/// Holds raw addresses: the owner keeps the memory alive and pinned while a kernel runs. Throws nothing.
/// </summary>
internal readonly unsafe struct Nf4AbsmaxSource
{
    private readonly float* _plain;   // [blocks] fp32, or null under double quant
    private readonly byte* _q8;       // [blocks] DYN indices
    private readonly float* _map;     // [256] DYN map
    private readonly float* _nested;  // [ceil(blocks/256)] nested absmax
    private readonly float _offset;

    private Nf4AbsmaxSource(float* plain, byte* q8, float* map, float* nested, float offset)
    {
        _plain = plain;
        _q8 = q8;
        _map = map;
        _nested = nested;
        _offset = offset;
    }

    /// <summary>Stored fp32 absmax, one per block.</summary>
    public static Nf4AbsmaxSource Plain(float* absmax) => new(absmax, null, null, null, 0f);

    /// <summary>absmax_b = DYN[q8_b] · nested_{b/256} + offset (fp32 multiply, then fp32 add).</summary>
    public static Nf4AbsmaxSource Double(byte* q8, float* map, float* nested, float offset) => new(null, q8, map, nested, offset);

    /// <summary>Writes the absmax of blocks [b0, b0 + count) to dest; <paramref name="simd"/> uses AVX2 gathers.</summary>
    public void Fill(long b0, int count, float* dest, bool simd)
    {
        if (_plain is not null)
        {
            new ReadOnlySpan<float>(_plain + b0, count).CopyTo(new Span<float>(dest, count));
            return;
        }
        int i = 0;
        if (simd && Avx2.IsSupported)
        {
            var offset = Vector256.Create(_offset);
            // Groups of 8 blocks starting at a multiple of 8 never straddle a 256-block nested group.
            for (; i < count && (b0 + i) % 8 != 0; i++)
                dest[i] = Scalar(b0 + i);
            for (; i + 8 <= count; i += 8)
            {
                long b = b0 + i;
                var index = Avx2.ConvertToVector256Int32(_q8 + b);                      // 8 bytes → 8 int32
                var values = Avx2.GatherVector256(_map, index, 4);                       // DYN[q8]
                var scaled = values * Vector256.Create(_nested[b / Nf4Tensor.NestedBlockSize]);
                (scaled + offset).Store(dest + i);                                       // separate mul and add, as the scalar path
            }
        }
        for (; i < count; i++)
            dest[i] = Scalar(b0 + i);
    }

    private float Scalar(long b)
    {
        float scaled = _map[_q8[b]] * _nested[b / Nf4Tensor.NestedBlockSize];
        return scaled + _offset;
    }
}
