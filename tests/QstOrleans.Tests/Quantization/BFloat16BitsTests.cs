using QstOrleans.Model.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Quantization;

public sealed class BFloat16BitsTests
{
    [Fact]
    public void RoundsLikeTorchCast()
    {
        var rng = new Random(3);
        var values = new List<float>
        {
            0f, -0f, 1f, -1f, float.PositiveInfinity, float.NegativeInfinity,
            float.MaxValue, -float.MaxValue, float.Epsilon, 1e-40f,
            BitConverter.UInt32BitsToSingle(0x3F80_8000), // exact tie, even below -> stays 0x3F80
            BitConverter.UInt32BitsToSingle(0x3F81_8000), // exact tie, odd below -> rounds up to 0x3F82
            BitConverter.UInt32BitsToSingle(0x3F80_8001), // just above a tie -> up
            BitConverter.UInt32BitsToSingle(0x3F80_7FFF), // just below a tie -> down
            BitConverter.UInt32BitsToSingle(0x7F7F_FFFF), // rounds to +Inf
        };
        for (int i = 0; i < 20_000; i++)
        {
            uint bits = (uint)rng.NextInt64(0, 1L << 32);
            var f = BitConverter.UInt32BitsToSingle(bits);
            // NaN is left out: libtorch's scalar cast gives 0x7FC0 but its vectorised cast 0xFFFF.
            if (!float.IsNaN(f)) values.Add(f);
        }

        var arr = values.ToArray();
        using var t = tensor(arr);
        using var b = t.to(ScalarType.BFloat16);
        var expected = b.bytes.ToArray();
        for (int i = 0; i < arr.Length; i++)
        {
            ushort torchBits = (ushort)(expected[2 * i] | (expected[2 * i + 1] << 8));
            Assert.Equal(torchBits, BFloat16Bits.FromFloat(arr[i]));
        }
    }

    [Fact]
    public void HandPickedCases()
    {
        Assert.Equal(0x3F80, BFloat16Bits.FromFloat(BitConverter.UInt32BitsToSingle(0x3F80_8000)));
        Assert.Equal(0x3F82, BFloat16Bits.FromFloat(BitConverter.UInt32BitsToSingle(0x3F81_8000)));
        Assert.Equal(0x7F80, BFloat16Bits.FromFloat(BitConverter.UInt32BitsToSingle(0x7F7F_FFFF)));
        Assert.Equal(0x7FC0, BFloat16Bits.FromFloat(float.NaN));
        Assert.Equal(1.0f, BFloat16Bits.ToFloat(0x3F80));
        Assert.Equal(-2.0f, BFloat16Bits.ToFloat(0xC000));
    }
}
