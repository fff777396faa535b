using System.Globalization;
using QstOrleans.Model.Quantization;

namespace QstOrleans.Tests.Quantization;

public sealed class Nf4CodeTests
{
    // Published table, spec §9.1 (bitsandbytes 0.43.3 NF4 code).
    internal static readonly double[] PublishedCode =
    {
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    };

    // Published midpoints, spec §9.2.
    private static readonly double[] PublishedThresholds =
    {
        -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
        -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
        0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
        0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
    };

    /// <summary>
    /// The fp32 threshold as the CUDA kernel has it: its float literal ("…f") parsed straight from
    /// the published decimal. Several midpoints are exact ties between two floats, so going through
    /// double first (double rounding) would pick the other neighbour.
    /// </summary>
    private static float KernelThreshold(int k) =>
        float.Parse(PublishedThresholds[k].ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>Nearest code index by brute force in double (lowest index on an exact tie).</summary>
    internal static int ArgminCode(double x)
    {
        int best = 0;
        for (int k = 1; k < 16; k++)
            if (Math.Abs(x - PublishedCode[k]) < Math.Abs(x - PublishedCode[best])) best = k;
        return best;
    }

    [Fact]
    public void ValuesEqualPublishedTable()
    {
        Assert.Equal(16, Nf4Code.Values.Count);
        for (int k = 0; k < 16; k++)
            Assert.Equal(PublishedCode[k], (double)Nf4Code.Values[k]); // the literals are exact fp32 values
    }

    [Fact]
    public void ThresholdsArePublishedMidpointsOfNeighbours()
    {
        Assert.Equal(15, Nf4Code.Thresholds.Count);
        for (int k = 0; k < 15; k++)
        {
            double mid = (PublishedCode[k] + PublishedCode[k + 1]) / 2.0;
            Assert.Equal(PublishedThresholds[k], mid, 1e-15);
            Assert.Equal(KernelThreshold(k), Nf4Code.Thresholds[k]);
            Assert.True(Math.Abs(Nf4Code.Thresholds[k] - mid) <= 0.5 * (MathF.BitIncrement(Math.Abs(Nf4Code.Thresholds[k])) - Math.Abs(Nf4Code.Thresholds[k])));
        }
    }

    [Fact]
    public void QuantizeMatchesArgminOnRandomValues()
    {
        var rng = new Random(17);
        for (int i = 0; i < 200_000; i++)
        {
            float x = (float)(rng.NextDouble() * 2.2 - 1.1);
            Assert.Equal(ArgminCode(x), Nf4Code.Quantize(x));
        }
    }

    [Fact]
    public void ValueExactlyOnThresholdGoesToLowerIndex()
    {
        for (int k = 0; k < 15; k++)
        {
            float t = KernelThreshold(k);
            Assert.Equal(k, Nf4Code.Quantize(t));
            Assert.Equal(k + 1, Nf4Code.Quantize(MathF.BitIncrement(t)));
            Assert.Equal(k, Nf4Code.Quantize(MathF.BitDecrement(t)));
        }
    }

    [Fact]
    public void CodeValuesMapToThemselvesAndNanToZero()
    {
        for (int k = 0; k < 16; k++)
            Assert.Equal(k, Nf4Code.Quantize((float)PublishedCode[k]));
        Assert.Equal(0, Nf4Code.Quantize(float.NaN));
    }
}
