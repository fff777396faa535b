using QstOrleans.Model.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Quantization;

/// <summary>
/// Every NF4 → bf16 decode path (scalar, SSSE3, AVX2, AVX-512) against the element-by-element
/// reference in <see cref="Nf4Reference"/> (fp32 products cast to bf16 by libtorch), bit for bit.
/// A path this CPU lacks must refuse with <see cref="PlatformNotSupportedException"/> instead.
/// </summary>
public sealed class Nf4DecodePathTests
{
    public static TheoryData<Nf4DecodePath, bool> PathsAndDoubleQuant()
    {
        var data = new TheoryData<Nf4DecodePath, bool>();
        foreach (var path in Enum.GetValues<Nf4DecodePath>())
        {
            data.Add(path, true);
            data.Add(path, false);
        }
        return data;
    }

    public static TheoryData<Nf4DecodePath> Paths()
    {
        var data = new TheoryData<Nf4DecodePath>();
        foreach (var path in Enum.GetValues<Nf4DecodePath>()) data.Add(path);
        return data;
    }

    /// <summary>Decodes with one path into a buffer first filled with garbage; null when the CPU lacks it (after checking the refusal).</summary>
    private static byte[]? Decode(Nf4Tensor q, Nf4DecodePath path)
    {
        using var buffer = full(new[] { q.ElementCount }, 123f, ScalarType.BFloat16);
        if (!Nf4DecodePaths.IsSupported(path))
        {
            Assert.Throws<PlatformNotSupportedException>(() => q.DequantizeInto(buffer, path));
            return null;
        }
        q.DequantizeInto(buffer, path);
        return buffer.bytes.ToArray();
    }

    [Theory]
    [MemberData(nameof(PathsAndDoubleQuant))]
    public void EveryPathMatchesTheScalarReferenceAcrossChunksAndNestedGroups(Nf4DecodePath path, bool doubleQuant)
    {
        using var scope = NewDisposeScope();
        // 3 × 16384 + 101 elements: 3 full kernel chunks of 256 blocks, a 4th with a partial, odd-length
        // last block; 769 blocks = 4 nested absmax groups. Per-row scales from 1e-3 to 1e3 vary the exponents.
        using var gen = new Generator(21);
        long n = 3 * 16384 + 101;
        var w = (randn(new[] { n }, generator: gen) * exp(linspace(-7, 7, n))).to(ScalarType.BFloat16);
        using var q = Nf4Quantizer.Quantize(w, doubleQuant);
        var got = Decode(q, path);
        if (got is null) return;
        Assert.Equal(Nf4Reference.DecodeBf16Bytes(q), got);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void NonFiniteAndExtremeAbsmaxDecodeLikeTheReference(Nf4DecodePath path)
    {
        using var scope = NewDisposeScope();
        // Hand-made absmax per block: NaN, ±Inf, a value whose products round up to bf16 Inf, a subnormal,
        // zero, and ordinary values; all 16 nibble values appear in every block.
        float[] absmax = [float.NaN, float.PositiveInfinity, 3.3e38f, 1e-40f, 0f, 1f, 0.0173f, 12345.678f, float.NegativeInfinity, 2.5f];
        long n = absmax.Length * 64L;
        var packed = new byte[n / 2];
        for (int i = 0; i < packed.Length; i++) packed[i] = (byte)((i * 7 + 3) & 0xFF);
        using var q = new Nf4Tensor([n], tensor(packed), tensor(absmax), null, null, 0f,
            tensor(Nf4CodeTests.PublishedCode.Select(c => (float)c).ToArray()), null, ScalarType.BFloat16);
        var got = Decode(q, path);
        if (got is null) return;
        // libtorch's vectorised cast writes NaN as 0xFFFF, the kernels as PyTorch's scalar 0x7FC0: NaN bits
        // carry no value, so compare NaN-ness there and bits everywhere else.
        Assert.Equal(CanonicalNaN(Nf4Reference.DecodeBf16Bytes(q)), got);
        Assert.Contains((byte)0x7F, got); // the NaN and Inf blocks really produced non-finite values
    }

    private static byte[] CanonicalNaN(byte[] bf16)
    {
        var result = (byte[])bf16.Clone();
        for (int i = 0; i < result.Length; i += 2)
        {
            int bits = result[i] | (result[i + 1] << 8);
            if ((bits & 0x7F80) == 0x7F80 && (bits & 0x007F) != 0)
            {
                result[i] = 0xC0;
                result[i + 1] = 0x7F;
            }
        }
        return result;
    }

    [Fact]
    public void BestPathIsSupportedAndIsWhatDequantizeUses()
    {
        using var scope = NewDisposeScope();
        Assert.True(Nf4DecodePaths.IsSupported(Nf4DecodePaths.Best));
        Assert.True(Nf4DecodePaths.IsSupported(Nf4DecodePath.Scalar));
        using var gen = new Generator(3);
        var w = randn(new long[] { 64, 200 }, generator: gen);
        using var q = Nf4Quantizer.Quantize(w, doubleQuant: true);
        Assert.Equal(Decode(q, Nf4DecodePath.Scalar), q.Dequantize(ScalarType.BFloat16).bytes.ToArray());
    }
}
