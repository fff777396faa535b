using QstOrleans.Model.Quantization;

namespace QstOrleans.Tests.Quantization;

public sealed class DynamicQuantMapTests
{
    /// <summary>The closed form of spec §9.4 in double, sorted.</summary>
    private static double[] ClosedForm()
    {
        var list = new List<double> { 0.0, 1.0 };
        for (int e = 0; e <= 6; e++)
        {
            int n = 1 << e;
            for (int k = 0; k < n; k++)
            {
                double m = Math.Pow(10, e - 6) * (0.1 + (k + 0.5) * 0.9 / n);
                list.Add(m);
                list.Add(-m);
            }
        }
        list.Sort();
        return list.ToArray();
    }

    [Fact]
    public void HasPublishedLayout()
    {
        var map = DynamicQuantMap.Create();
        Assert.Equal(256, map.Length);
        for (int i = 1; i < 256; i++)
            Assert.True(map[i] > map[i - 1], $"map not strictly ascending at {i}");
        Assert.Equal(0f, map[127]);
        Assert.Equal(1f, map[255]);
        Assert.Equal(-0.99296875, map[0], 1e-7);
        Assert.Equal(0.99296875, map[254], 1e-7);
        Assert.DoesNotContain(-1f, map);
        Assert.Equal(5.5e-7, map[128], 1e-13);
        Assert.Equal(-5.5e-7, map[126], 1e-13);
        for (int i = 0; i < 127; i++)
            Assert.Equal(-map[254 - i], map[i]); // symmetric apart from 0 and 1.0
    }

    [Fact]
    public void EntriesMatchClosedFormWithinFp32Rounding()
    {
        var map = DynamicQuantMap.Create();
        var exact = ClosedForm();
        for (int i = 0; i < 256; i++)
            Assert.True(Math.Abs(map[i] - exact[i]) <= 4e-7 * Math.Abs(exact[i]),
                $"entry {i}: {map[i]} vs closed form {exact[i]}");
    }

    [Fact]
    public void NearestMatchesBruteForceArgmin()
    {
        var map = DynamicQuantMap.Create();
        var rng = new Random(5);
        for (int i = 0; i < 50_000; i++)
        {
            // Mix uniform values with log-spread small magnitudes so every decade is exercised.
            float x = i % 2 == 0
                ? (float)(rng.NextDouble() * 2 - 1)
                : (float)((rng.Next(2) * 2 - 1) * Math.Pow(10, -7 * rng.NextDouble()));
            int got = DynamicQuantMap.Nearest(map, x);
            double best = double.MaxValue;
            for (int k = 0; k < 256; k++) best = Math.Min(best, Math.Abs((double)map[k] - x));
            Assert.Equal(best, Math.Abs((double)map[got] - x));
        }
        for (int k = 0; k < 256; k++)
            Assert.Equal(k, DynamicQuantMap.Nearest(map, map[k]));
        Assert.Equal(0, DynamicQuantMap.Nearest(map, -1f));
        Assert.Equal(255, DynamicQuantMap.Nearest(map, 1f));
    }

    [Fact]
    public void NearestRejectsWrongMapLength()
    {
        Assert.Throws<ArgumentException>(() => DynamicQuantMap.Nearest(new float[16], 0.5f));
    }
}
