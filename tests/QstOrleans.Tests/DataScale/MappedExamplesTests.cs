using QstOrleans.Data.Datasets;
using QstOrleans.Data.Datasets.Cache;
using QstOrleans.Data.Tokenization;
using QstOrleans.Data.Tokenization.Caching;
using QstOrleans.Model.Recipe;
using QstOrleans.Tests.Cli;

namespace QstOrleans.Tests.DataScale;

/// <summary>
/// Speed work that must not change a token: the cache build with the word-cached encoder gives exactly the examples
/// of the baseline (the encoder without its cache, one thread); a cache hit reads the examples in place
/// (<see cref="MappedExamples"/>), equal to the built ones, with lengths from the offsets, and still readable after
/// the cache file was removed.
/// </summary>
public sealed class MappedExamplesTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    (ModelTokenizer Tokenizer, ChatTemplate Template) Load(EncoderOptions options)
    {
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory, options);
        return (tokenizer, ChatTemplate.FromModelDirectory(tiny.ModelDirectory, tokenizer.BosToken, tokenizer.EosToken));
    }

    static void AssertSameExamples(IReadOnlyList<TokenizedExample> expected, IReadOnlyList<TokenizedExample> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].InputIds, actual[i].InputIds);
            Assert.Equal(expected[i].Labels, actual[i].Labels);
        }
    }

    [Fact]
    public void TheWordCachedParallelBuildEqualsTheUncachedSingleThreadedBaseline()
    {
        string data = _dir["data.jsonl"];
        SyntheticDatasets.WriteAlpacaJsonl(data, 3000, seed: 11);
        var (fast, template) = Load(EncoderOptions.Default);
        var (slow, _) = Load(EncoderOptions.Uncached);
        var options = new DataOptions();
        var baseline = TokenCache.Load(data, slow, template, tiny.ModelDirectory, options, new TokenCacheOptions(Enabled: false, MaxDegreeOfParallelism: 1));
        var built = TokenCache.Load(data, fast, template, tiny.ModelDirectory, options, new TokenCacheOptions(CacheRoot: _dir["root"], ChunkSize: 64));
        Assert.False(built.Hit);
        Assert.True(baseline.Examples.Sum(e => e.Length) > 3000 * 10, "the synthetic rows tokenized to almost nothing");
        AssertSameExamples(baseline.Examples, built.Examples);
    }

    [Fact]
    public void AHitReadsTheExamplesInPlaceEqualToTheBuiltOnes()
    {
        string data = _dir["data.jsonl"];
        SyntheticDatasets.WriteAlpacaJsonl(data, 500, seed: 12);
        var (tokenizer, template) = Load(EncoderOptions.Default);
        var cache = new TokenCacheOptions(CacheRoot: _dir["root"]);
        var built = TokenCache.Load(data, tokenizer, template, tiny.ModelDirectory, new DataOptions(), cache);
        var hit = TokenCache.Load(data, tokenizer, template, tiny.ModelDirectory, new DataOptions(), cache);

        Assert.True(hit.Hit);
        var mapped = Assert.IsType<MappedExamples>(hit.Examples);
        AssertSameExamples(built.Examples, mapped);
        AssertSameExamples(built.Examples, mapped.ToList());                          // the enumerator too
        Assert.Equal(built.Examples.Select(e => e.Length), mapped.Lengths());
        Assert.Throws<ArgumentOutOfRangeException>(() => mapped[mapped.Count]);
        Assert.Throws<ArgumentOutOfRangeException>(() => mapped[-1]);

        File.Delete(hit.CachePath!);                                                  // a rebuild elsewhere may remove it
        AssertSameExamples(built.Examples, mapped);
    }

    [Fact]
    public void AHitChecksTheVocabularyInOnePassAndStillNamesTheOffendingExample()
    {
        string data = _dir["data.jsonl"];
        SyntheticDatasets.WriteAlpacaJsonl(data, 300, seed: 13);
        var (tokenizer, _) = Load(EncoderOptions.Default);
        var options = new DataOptions();
        var cache = new TokenCacheOptions(CacheRoot: _dir["root"]);
        var built = InstructionBatches.Load(data, tokenizer, options, 4, 0, tiny.ModelDirectory, cache);
        var hit = InstructionBatches.Load(data, tokenizer, options, 4, 0, tiny.ModelDirectory, cache);
        Assert.IsType<MappedExamples>(hit.Examples);

        // The largest id, and the first example holding it, found the plain way over the built (copied) examples.
        int maxId = built.Examples.Max(e => Math.Max(e.InputIds.Max(), e.Labels.Max()));
        int firstWithMax = built.Examples.ToList().FindIndex(e => e.InputIds.Contains(maxId) || e.Labels.Contains(maxId)) + 1;

        Assert.True(hit.IdsProvenBelow(maxId + 1));
        Assert.False(hit.IdsProvenBelow(maxId));                                     // the id equal to the limit is out
        Assert.False(built.IdsProvenBelow(maxId + 1));                               // not a hit: nothing proven, checked per example
        DataPlan.CheckVocabulary(hit, maxId + 1, data);
        var refused = Assert.Throws<ArgumentException>(() => DataPlan.CheckVocabulary(hit, maxId, data));
        Assert.Contains($"example {firstWithMax}:", refused.Message);
    }
}
