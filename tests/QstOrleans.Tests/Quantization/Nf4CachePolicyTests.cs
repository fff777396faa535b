using QstOrleans.Model.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Quantization;

/// <summary>The per-stage cache-or-dequantize choice, on inputs worked out by hand.</summary>
public sealed class Nf4CachePolicyTests
{
    [Fact]
    public void FillsTheBudgetFirstFitInRunningOrder()
    {
        // usable = 1000 · 0.9 = 900; budget = 900 − 300 resident − 100 reserve = 500 B.
        // bf16 cache bytes per linear: 200, 100, 400, 20 → 200 (200), 100 (300), 400 does not fit (700), 20 (320).
        var plan = Nf4CachePolicy.Decide(new Nf4CacheInputs([100, 50, 200, 10], 1000, 300, 100));
        Assert.Equal([true, true, false, true], plan.Cache);
        Assert.Equal(320, plan.CacheBytes);
        Assert.Equal(500, plan.BudgetBytes);
        Assert.Equal(3, plan.CachedCount);
        Assert.Contains("caching 3 of 4", plan.Reason);
    }

    [Fact]
    public void CachesEverythingWhenTheSlotIsLargeAndNothingWhenItIsFull()
    {
        // fp32 cache: 4 B each → 4 · (1000 + 3000) = 16,000 B ≤ 100,000 · 0.75 − 10,000 − 20,000 = 45,000.
        var all = Nf4CachePolicy.Decide(new Nf4CacheInputs([1000, 3000], 100_000, 10_000, 20_000, BytesPerElement: 4, Headroom: 0.25));
        Assert.Equal([true, true], all.Cache);
        Assert.Equal(16_000, all.CacheBytes);
        Assert.Equal(45_000, all.BudgetBytes);
        Assert.StartsWith("caching all 2", all.Reason);

        // Resident already beyond the usable part: budget 0, dequantize per micro-batch everywhere.
        var none = Nf4CachePolicy.Decide(new Nf4CacheInputs([1, 1], 1000, 950, 0));
        Assert.Equal([false, false], none.Cache);
        Assert.Equal(0, none.BudgetBytes);
        Assert.StartsWith("dequantizing per micro-batch", none.Reason);
    }

    [Fact]
    public void RejectsBadInputsNamingTheField()
    {
        Assert.Contains("BytesPerElement", Assert.Throws<ArgumentException>(() => Nf4CachePolicy.Decide(new Nf4CacheInputs([1], 10, 0, 0, BytesPerElement: 3))).Message);
        Assert.Contains("Headroom", Assert.Throws<ArgumentException>(() => Nf4CachePolicy.Decide(new Nf4CacheInputs([1], 10, 0, 0, Headroom: 1))).Message);
        Assert.Contains("LinearElementCounts", Assert.Throws<ArgumentException>(() => Nf4CachePolicy.Decide(new Nf4CacheInputs([-1], 10, 0, 0))).Message);
        Assert.Contains("slot memory", Assert.Throws<ArgumentException>(() => Nf4CachePolicy.Decide(new Nf4CacheInputs([1], -10, 0, 0))).Message);
    }

    [Fact]
    public void ApplySetsEachLayersCacheFlagAndCountsItsNf4BytesAsResident()
    {
        using var scope = NewDisposeScope();
        using var gen = new Generator(8);
        using var a = new Nf4Linear(Nf4Quantizer.Quantize(randn(new long[] { 64, 64 }, generator: gen), doubleQuant: false));   // 4096 weights
        using var b = new Nf4Linear(Nf4Quantizer.Quantize(randn(new long[] { 128, 64 }, generator: gen), doubleQuant: false));  // 8192 weights
        long nf4 = a.Weight.ByteSize + b.Weight.ByteSize; // (4096 + 8192) · (0.5 + 4/64) B + two 16-float code tables
        Assert.Equal(12288 / 2 + 12288 / 64 * 4 + 2 * 64, nf4);
        // Budget = slot − nf4 − 1000 other − 0 reserve (no headroom given by Apply: 10 %): make room for a (8192 B) only.
        long slot = (long)Math.Ceiling((nf4 + 1000 + 8192 + 100) / 0.9);
        var plan = Nf4CachePolicy.Apply([a, b], slot, otherResidentBytes: 1000, activationReserveBytes: 0);
        Assert.Equal([true, false], plan.Cache);
        Assert.True(a.CacheDequantized);
        Assert.False(b.CacheDequantized);
        Assert.Equal(8192, plan.CacheBytes);
        Assert.Throws<ArgumentException>(() => Nf4CachePolicy.Apply([a], slot, 0, 0, ScalarType.Float16));
    }
}
