using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Data;

public sealed class EpochSamplerTests
{
    [Fact]
    public void SplitMix64MatchesPublishedVector()
    {
        // Reference outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var rng = new SplitMix64(0);
        Assert.Equal(0xE220A8397B1DCDAFUL, rng.Next());
        Assert.Equal(0x6E789E6AA1B965F4UL, rng.Next());
        Assert.Equal(0x06C45D188009454FUL, rng.Next());
    }

    [Fact]
    public void OrdersMatchAnIndependentPythonImplementation()
    {
        // Computed with a separate Python SplitMix64 + Fisher-Yates (state = seed << 32 | epoch).
        Assert.Equal([2, 1, 3, 0, 4], new EpochSampler(5, 7).Order(0));
        Assert.Equal([3, 4, 0, 1, 2], new EpochSampler(5, 7).Order(1));
        Assert.Equal([4, 6, 8, 2, 0, 7, 9, 1, 3, 5], new EpochSampler(10, 42).Order(3));
    }

    [Fact]
    public void IsADeterministicPermutationThatChangesPerEpoch()
    {
        var s = new EpochSampler(1000, 123);
        int[] e0 = s.Order(0), e1 = s.Order(1);
        Assert.Equal(Enumerable.Range(0, 1000), e0.Order());
        Assert.Equal(Enumerable.Range(0, 1000), e1.Order());
        Assert.Equal(e0, new EpochSampler(1000, 123).Order(0));
        Assert.NotEqual(e0, e1);
        Assert.NotEqual(e0, new EpochSampler(1000, 124).Order(0));
    }

    [Fact]
    public void MicroBatchesSliceTheEpochOrder()
    {
        var s = new EpochSampler(10, 42);
        var batches = s.MicroBatches(3, 4).ToList();
        Assert.Equal([[4, 6, 8, 2], [0, 7, 9, 1], [3, 5]], batches);
        Assert.Equal(2, s.MicroBatches(3, 4, dropLast: true).Count());
        Assert.Equal((3, 2), (s.MicroBatchCount(4), s.MicroBatchCount(4, dropLast: true)));
        Assert.Empty(new EpochSampler(0, 1).MicroBatches(0, 4));
    }
}
