using QstOrleans.Model.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Quantization;

public sealed class Nf4QuantizerTests
{
    private static Tensor RandomWeight(long rows, long cols, int seed, ScalarType dtype = ScalarType.Float32)
    {
        using var gen = new Generator((ulong)seed);
        using var w = randn(new[] { rows, cols }, generator: gen);
        return w.to(dtype);
    }

    [Fact]
    public void PacksFirstElementIntoHighNibble()
    {
        using var scope = NewDisposeScope();
        // absmax = 1: 1.0 -> 15, -1.0 -> 0, 0.0 -> 7, 0.5 -> 12 (t11 = 0.389 < 0.5 < t12 = 0.5017).
        using var w = tensor(new float[] { 1f, -1f, 0f, 0.5f });
        using var q = Nf4Quantizer.Quantize(w, doubleQuant: false);
        Assert.Equal(new byte[] { 0xF0, 0x7C }, q.Packed.data<byte>().ToArray());
        Assert.Equal(new[] { 1f }, q.Absmax!.data<float>().ToArray());
        Assert.Equal(new float[] { 1f, -1f, 0f, 0.44070982933044434f }, Nf4Reference.ToFloats(q.Dequantize(ScalarType.Float32)));
    }

    [Fact]
    public void EveryIndexIsTheNearestCodeOfTheScaledWeight()
    {
        using var scope = NewDisposeScope();
        var w = RandomWeight(64, 201, seed: 1); // n = 12864 = 201 blocks
        using var q = Nf4Quantizer.Quantize(w, doubleQuant: false);
        var x = Nf4Reference.ToFloats(w);
        var packed = q.Packed.data<byte>().ToArray();
        var absmax = q.Absmax!.data<float>().ToArray();
        for (int b = 0; b < absmax.Length; b++)
        {
            float amax = 0f;
            for (int i = b * 64; i < b * 64 + 64; i++) amax = Math.Max(amax, Math.Abs(x[i]));
            Assert.Equal(amax, absmax[b]);
            float inv = 1f / amax;
            for (int i = b * 64; i < b * 64 + 64; i++)
                Assert.Equal(Nf4CodeTests.ArgminCode(x[i] * inv), Nf4Reference.Nibble(packed, i));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripRelativeRmsErrorOnGaussianWeights(bool doubleQuant)
    {
        using var scope = NewDisposeScope();
        var w = RandomWeight(256, 512, seed: 2);
        using var q = Nf4Quantizer.Quantize(w, doubleQuant);
        var w2 = q.Dequantize(ScalarType.Float32);
        double rel = ((w2 - w).norm().item<float>()) / w.norm().item<float>();
        Assert.InRange(rel, 0.085, 0.095); // spec §9.8: ≈ 9.2 %
    }

    [Fact]
    public void DoubleQuantizedAbsmaxWithinOnePercent()
    {
        using var scope = NewDisposeScope();
        var w = RandomWeight(256, 512, seed: 3);
        using var q = Nf4Quantizer.Quantize(w, doubleQuant: true);
        var expected = Nf4Reference.ToFloats(w.reshape(-1, 64).abs().amax(new long[] { 1 }));
        var got = q.DequantizeAbsmax();
        Assert.Equal(expected.Length, got.Length);
        for (int b = 0; b < got.Length; b++)
            Assert.True(Math.Abs(got[b] - expected[b]) < 0.01 * expected[b], $"block {b}: {got[b]} vs {expected[b]}");
        double mean = expected.Average(v => (double)v);
        Assert.Equal(mean, q.NestedOffset, 1e-5 * mean);
    }

    [Theory]
    [InlineData(130, 257, true)]  // 523 blocks (3 nested groups), 2-element last block
    [InlineData(130, 257, false)]
    [InlineData(3, 67, true)]     // odd n = 201: partial last block and a half-used last byte
    [InlineData(3, 67, false)]
    public void DequantizeMatchesScalarReferenceBitForBit(long rows, long cols, bool doubleQuant)
    {
        using var scope = NewDisposeScope();
        var w = RandomWeight(rows, cols, seed: 4, ScalarType.BFloat16);
        using var q = Nf4Quantizer.Quantize(w, doubleQuant);
        Assert.Equal((rows * cols + 1) / 2, q.Packed.numel());
        Assert.Equal((rows * cols + 63) / 64, q.BlockCount);

        var bf = q.Dequantize(ScalarType.BFloat16);
        Assert.Equal(new[] { rows, cols }, bf.shape);
        Assert.Equal(ScalarType.BFloat16, bf.dtype);
        Assert.Equal(Nf4Reference.DecodeBf16Bytes(q), bf.bytes.ToArray());

        var f = q.Dequantize(ScalarType.Float32);
        Assert.Equal(Nf4Reference.DecodeF32(q), f.data<float>().ToArray());
    }

    [Fact]
    public void DequantizeIntoOverwritesAnExistingBuffer()
    {
        using var scope = NewDisposeScope();
        var w = RandomWeight(40, 64, seed: 12);
        using var q = Nf4Quantizer.Quantize(w);
        var buffer = full(new long[] { 40 * 64 }, 7f, ScalarType.BFloat16); // any shape, same count
        q.DequantizeInto(buffer);
        Assert.Equal(Nf4Reference.DecodeBf16Bytes(q), buffer.bytes.ToArray());
        Assert.Throws<ArgumentException>(() => q.DequantizeInto(empty(new long[] { 10 }, ScalarType.BFloat16)));
        Assert.Throws<ArgumentException>(() => q.DequantizeInto(empty(new long[] { 64, 40 }).t()));
    }

    [Fact]
    public void OddLengthPadsLowNibbleWithZero()
    {
        using var w = tensor(new float[] { 1f, 1f, -1f }); // 15, 15, 0 | pad
        using var q = Nf4Quantizer.Quantize(w, doubleQuant: false);
        Assert.Equal(new byte[] { 0xFF, 0x00 }, q.Packed.data<byte>().ToArray());
    }

    [Fact]
    public void AllZeroBlockDecodesToExactZerosEvenWithDoubleQuant()
    {
        using var scope = NewDisposeScope();
        var w = RandomWeight(4, 128, seed: 5);
        w[0] = zeros(128); // blocks 0 and 1 all zero
        using var q = Nf4Quantizer.Quantize(w, doubleQuant: true);
        var packed = q.Packed.data<byte>().ToArray();
        Assert.All(packed.Take(64), b => Assert.Equal(0x77, b)); // index 7 (0.0), documented deviation
        var back = Nf4Reference.ToFloats(q.Dequantize(ScalarType.Float32));
        Assert.All(back.Take(128), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Bf16F16AndF32InputsOfTheSameValuesQuantizeIdentically()
    {
        using var scope = NewDisposeScope();
        var bf = RandomWeight(32, 96, seed: 6, ScalarType.BFloat16);
        using var q1 = Nf4Quantizer.Quantize(bf);
        using var q2 = Nf4Quantizer.Quantize(bf.to(ScalarType.Float32));
        using var q3 = Nf4Quantizer.Quantize(bf.to(ScalarType.Float16).to(ScalarType.Float32).to(ScalarType.Float16));
        using var q4 = Nf4Quantizer.Quantize(bf.to(ScalarType.Float16).to(ScalarType.Float32));
        Assert.Equal(q1.Packed.data<byte>().ToArray(), q2.Packed.data<byte>().ToArray());
        Assert.Equal(q3.Packed.data<byte>().ToArray(), q4.Packed.data<byte>().ToArray());
        Assert.Equal(q3.DequantizeAbsmax(), q4.DequantizeAbsmax());
        Assert.Equal(ScalarType.BFloat16, q1.OriginalDType);
        Assert.Equal(ScalarType.Float16, q3.OriginalDType);
    }

    [Fact]
    public void NonContiguousInputIsQuantizedByValue()
    {
        using var scope = NewDisposeScope();
        var w = RandomWeight(64, 128, seed: 7);
        var wt = w.t(); // [128, 64] view, not contiguous
        using var q1 = Nf4Quantizer.Quantize(wt, doubleQuant: false);
        using var q2 = Nf4Quantizer.Quantize(wt.contiguous(), doubleQuant: false);
        Assert.Equal(new long[] { 128, 64 }, q1.Shape);
        Assert.Equal(q2.Packed.data<byte>().ToArray(), q1.Packed.data<byte>().ToArray());
    }

    [Fact]
    public void ByteSizeIsAbout4Point127BitsPerWeightWithDoubleQuant()
    {
        using var scope = NewDisposeScope();
        var w = RandomWeight(256, 1024, seed: 8);
        using var q = Nf4Quantizer.Quantize(w, doubleQuant: true);
        long n = 256 * 1024;
        Assert.Equal(n / 2 + n / 64 + (n / 64 / 256) * 4 + 16 * 4 + 256 * 4, q.ByteSize);
        using var q2 = Nf4Quantizer.Quantize(w, doubleQuant: false);
        Assert.Equal(n / 2 + n / 64 * 4 + 16 * 4, q2.ByteSize);
    }

    [Fact]
    public void QuantizedTensorSurvivesTheCallersDisposeScope()
    {
        Nf4Tensor q;
        using (var scope = NewDisposeScope())
        {
            var w = RandomWeight(8, 64, seed: 9);
            q = Nf4Quantizer.Quantize(w);
        }
        using (q)
        {
            using var back = q.Dequantize(ScalarType.Float32);
            Assert.Equal(Nf4Reference.DecodeF32(q), back.data<float>().ToArray());
        }
    }

    [Fact]
    public void RejectsUnsupportedInputs()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => Nf4Quantizer.Quantize(ones(new long[] { 64 }, ScalarType.Int32)));
        Assert.Throws<ArgumentException>(() => Nf4Quantizer.Quantize(empty(new long[] { 0 })));
        using var q = Nf4Quantizer.Quantize(ones(new long[] { 64 }));
        Assert.Throws<ArgumentException>(() => q.Dequantize(ScalarType.Float16));
    }
}
