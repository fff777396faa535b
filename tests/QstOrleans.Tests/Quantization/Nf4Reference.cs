using QstOrleans.Model.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Quantization;

/// <summary>
/// Scalar, element-by-element NF4 decoding written independently of the production kernels
/// (spec §9.5), used as the reference in the tests.
/// </summary>
internal static class Nf4Reference
{
    /// <summary>absmax_b from the stored parts: DYN[q8_b] · absmax2_{b/256} + offset, or the stored fp32.</summary>
    public static float[] Absmax(Nf4Tensor q)
    {
        if (!q.DoubleQuantized)
            return q.Absmax!.data<float>().ToArray();
        var q8 = q.QuantizedAbsmax!.data<byte>().ToArray();
        var nested = q.NestedAbsmax!.data<float>().ToArray();
        var map = q.NestedQuantMap!.data<float>().ToArray();
        var result = new float[q8.Length];
        for (int b = 0; b < q8.Length; b++)
        {
            float scaled = map[q8[b]] * nested[b / 256];
            result[b] = scaled + q.NestedOffset;
        }
        return result;
    }

    /// <summary>The nibble of element i: high nibble for even i, low for odd.</summary>
    public static int Nibble(byte[] packed, long i) =>
        i % 2 == 0 ? packed[i / 2] >> 4 : packed[i / 2] & 0x0F;

    /// <summary>w_i = code[nib_i] · absmax_{i/64} in fp32, with the published code table.</summary>
    public static float[] DecodeF32(Nf4Tensor q)
    {
        var packed = q.Packed.data<byte>().ToArray();
        var absmax = Absmax(q);
        var result = new float[q.ElementCount];
        for (long i = 0; i < result.Length; i++)
        {
            float code = (float)Nf4CodeTests.PublishedCode[Nibble(packed, i)];
            result[i] = code * absmax[i / 64];
        }
        return result;
    }

    /// <summary>Reference bf16 bits: the fp32 products cast by libtorch (round to nearest even).</summary>
    public static byte[] DecodeBf16Bytes(Nf4Tensor q)
    {
        using var f = tensor(DecodeF32(q));
        using var b = f.to(ScalarType.BFloat16);
        return b.bytes.ToArray();
    }

    /// <summary>Flat fp32 copy of any float tensor.</summary>
    public static float[] ToFloats(Tensor t)
    {
        using var f = t.to(ScalarType.Float32).contiguous().reshape(-1);
        return f.data<float>().ToArray();
    }
}
