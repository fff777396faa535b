using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Data;

public sealed class BatchingTests
{
    private const int I = -100, Eos = 2;

    private static TokenizedExample Ex(int[] ids, int[] labels) => new(ids, labels);

    [Fact]
    public void PackingConcatenatesWithEosAndKeepsMasks()
    {
        TokenizedExample[] examples =
        [
            Ex([1, 10, 11, Eos], [I, 10, 11, Eos]), // already ends with EOS: no separator
            Ex([1, 20, 21], [I, I, 21]),            // separator EOS, trained (last label trained)
            Ex([1, 30], [I, I]),                    // separator EOS, not trained
            Ex([1, 40, 41], [I, 40, 41]),
        ];
        // stream: 1 10 11 2 | 1 20 21 2 | 1 30 2 | 1 40 41 2  (15 tokens) -> blocks of 4
        var packed = SequencePacker.Pack(examples, blockSize: 4, eosId: Eos);
        Assert.Equal(3, packed.Blocks.Count);
        Assert.Equal([1, 10, 11, Eos], packed.Blocks[0].InputIds);
        Assert.Equal([I, 10, 11, Eos], packed.Blocks[0].Labels);
        Assert.Equal([1, 20, 21, Eos], packed.Blocks[1].InputIds);
        Assert.Equal([I, I, 21, Eos], packed.Blocks[1].Labels);
        // block [1 30 2 1] has labels [I I I I]: dropped
        Assert.Equal(1, packed.BlocksWithoutLoss);
        Assert.Equal([40, 41, Eos], packed.Blocks[2].InputIds); // short remainder kept
        Assert.Equal([40, 41, Eos], packed.Blocks[2].Labels);

        var strict = SequencePacker.Pack(examples, blockSize: 4, eosId: Eos, dropRemainder: true);
        Assert.Equal(2, strict.Blocks.Count);
        Assert.Equal(3, strict.TokensDropped);
    }

    [Fact]
    public void PlainPlanIsTheEpochSamplerOrder()
    {
        var planner = new BatchPlanner(Enumerable.Repeat(5, 10).ToArray(), seed: 7, new BatchPlanOptions(3));
        for (int epoch = 0; epoch < 3; epoch++)
            Assert.Equal(new EpochSampler(10, 7).MicroBatches(epoch, 3), planner.Plan(epoch));
        Assert.Equal(4, planner.MicroBatchesPerEpoch);
        Assert.Equal(3, new BatchPlanner(new int[10], 7, new BatchPlanOptions(3, DropLast: true)).MicroBatchesPerEpoch);
    }

    [Fact]
    public void GroupByLengthBucketsSimilarLengthsAndShufflesBuckets()
    {
        int[] lengths = [1, 9, 2, 8, 3, 7, 4, 6];
        // Sorted longest first: idx 1(9) 3(8) 5(7) 7(6) 6(4) 4(3) 2(2) 0(1) -> buckets of 2:
        var expectedBuckets = new[] { new[] { 1, 3 }, [5, 7], [4, 6], [0, 2] };
        var planner = new BatchPlanner(lengths, seed: 3, new BatchPlanOptions(2, GroupByLength: true));
        var orders = new HashSet<string>();
        for (int epoch = 0; epoch < 6; epoch++)
        {
            var plan = planner.Plan(epoch);
            Assert.Equal(
                expectedBuckets.Select(b => string.Join(",", b)).Order(),
                plan.Select(b => string.Join(",", b.Order())).Order());
            orders.Add(string.Join("|", plan.Select(b => string.Join(",", b.Order()))));
            // Deterministic: a fresh planner with the same seed gives the same plan.
            Assert.Equal(plan, new BatchPlanner(lengths, 3, new BatchPlanOptions(2, GroupByLength: true)).Plan(epoch));
        }
        Assert.True(orders.Count > 1, "bucket order should change between epochs");
    }

    private static List<TokenizedExample> Examples(int n) =>
        Enumerable.Range(0, n).Select(i => Ex(Enumerable.Range(100, 1 + i % 4).ToArray(), Enumerable.Range(100, 1 + i % 4).ToArray())).ToList();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StartingAtAnyCursorGivesTheSameTail(bool groupByLength)
    {
        var examples = Examples(10);
        var options = new BatchPlanOptions(3, groupByLength);
        var full = new MicroBatchStream(examples, 0, seed: 11, options).Read(DataCursor.Start, endEpoch: 3).ToList();
        Assert.Equal(12, full.Count); // 4 micro-batches per epoch (3+3+3+1)
        Assert.Equal(new DataCursor(1, 0), full[4].Id);
        Assert.Equal(new DataCursor(2, 3), full[^1].Id);
        for (int k = 0; k < full.Count; k++)
        {
            // A fresh stream, as after a restart.
            var tail = new MicroBatchStream(examples, 0, 11, options).Read(full[k].Id, endEpoch: 3).ToList();
            Assert.Equal(full.Count - k, tail.Count);
            for (int j = 0; j < tail.Count; j++)
            {
                Assert.Equal(full[k + j].Id, tail[j].Id);
                Assert.Equal(full[k + j].ExampleIndices, tail[j].ExampleIndices);
                Assert.Equal(full[k + j].Batch.InputIds, tail[j].Batch.InputIds);
            }
        }
        // Each epoch visits every example once.
        for (int e = 0; e < 3; e++)
            Assert.Equal(Enumerable.Range(0, 10), full.Where(m => m.Id.Epoch == e).SelectMany(m => m.ExampleIndices).Order());
    }

    [Fact]
    public void CursorAtEpochEndIsTheNextEpochAndPastTheEndThrows()
    {
        var stream = new MicroBatchStream(Examples(10), 0, 11, new BatchPlanOptions(3));
        Assert.Equal(new DataCursor(1, 0), stream.Read(new DataCursor(0, 4), endEpoch: 2).First().Id);
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Read(new DataCursor(0, 5)));
        Assert.Equal(new DataCursor(1, 0), stream.Next(new DataCursor(0, 3)));
    }

    [Fact]
    public void ValidationSplitIsDeterministicAndDisjoint()
    {
        var s = DatasetSplit.Split(10, 0.2, seed: 5);
        Assert.Equal(2, s.Validation.Length);
        Assert.Equal(8, s.Train.Length);
        Assert.Empty(s.Train.Intersect(s.Validation));
        Assert.Equal(Enumerable.Range(0, 10), s.Train.Concat(s.Validation).Order());
        Assert.Equal(s.Train.Order(), s.Train); // file order kept
        Assert.Equal(s, DatasetSplit.Split(10, 0.2, 5) with { }, new SplitComparer());
        var picks = Enumerable.Range(0, 6).Select(seed => string.Join(",", DatasetSplit.Split(10, 0.2, seed).Validation)).ToHashSet();
        Assert.True(picks.Count > 1, "different seeds should pick different validation records");

        Assert.Single(DatasetSplit.Split(10, 0.01, 5).Validation); // at least one
        Assert.Equal(9, DatasetSplit.Split(10, 0.99, 5).Validation.Length); // at most count - 1
        Assert.Empty(DatasetSplit.Split(10, 0, 5).Validation);
        Assert.Throws<ArgumentOutOfRangeException>(() => DatasetSplit.Split(10, 1.0, 5));
        Assert.Throws<ArgumentException>(() => DatasetSplit.Split(1, 0.5, 5));

        string[] items = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        Assert.Equal(s.Validation.Select(i => items[i]), s.ValidationOf(items));
    }

    private sealed class SplitComparer : IEqualityComparer<SplitIndices>
    {
        public bool Equals(SplitIndices? x, SplitIndices? y) => x!.Train.SequenceEqual(y!.Train) && x.Validation.SequenceEqual(y.Validation);
        public int GetHashCode(SplitIndices obj) => 0;
    }
}
