using System.Text.Json;
using QstOrleans.Configuration;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Datasets.Cache;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Recipe;
using QstOrleans.Tests.Cli;

namespace QstOrleans.Tests.DataScale;

/// <summary>
/// The token cache: a hit parses and tokenizes nothing (the tokenizer's call counter does not move, the cache file is
/// not rewritten) and gives exactly the examples, summary and micro-batches of tokenizing without a cache; any change
/// of the file, the options or a damaged cache misses; an unwritable data folder falls back to the cache root.
/// </summary>
public sealed class TokenCacheTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    TokenCacheOptions Cache => new(CacheRoot: _dir["root"]);

    string WriteAlpaca(int count, int seed)
    {
        string path = _dir["data.jsonl"];
        SyntheticDatasets.WriteAlpacaJsonl(path, count, seed);
        return path;
    }

    /// <summary>The reference: the same file tokenized with no cache at all.</summary>
    InstructionBatches Uncached(string file, ModelTokenizer tokenizer, DataOptions options) =>
        InstructionBatches.Load(file, tokenizer, options, 4, 3, tiny.ModelDirectory, cache: null);

    static void AssertSame(InstructionBatches expected, InstructionBatches actual)
    {
        Assert.Equal(expected.Summary, actual.Summary);
        Assert.Equal(expected.ExampleCount, actual.ExampleCount);
        for (int i = 0; i < expected.ExampleCount; i++)
        {
            Assert.Equal(expected.Examples[i].InputIds, actual.Examples[i].InputIds);
            Assert.Equal(expected.Examples[i].Labels, actual.Examples[i].Labels);
        }
        Assert.Equal(expected.MicroBatchesPerEpoch, actual.MicroBatchesPerEpoch);
        for (int e = 0; e < 2; e++)
            for (int m = 0; m < expected.MicroBatchesPerEpoch; m++)
            {
                Assert.Equal(expected.Get(e, m).InputIds, actual.Get(e, m).InputIds);
                Assert.Equal(expected.Get(e, m).Labels, actual.Get(e, m).Labels);
            }
    }

    [Fact]
    public void ResumeReadsTheCacheAndTokenizesNothing()
    {
        string file = WriteAlpaca(300, 11);
        var config = TrainingConfig.Defaults with { Schedule = TrainingConfig.Defaults.Schedule with { MicroBatchSize = 4, Seed = 3 } };
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var reference = Uncached(file, tokenizer, DataPlan.Options(config.Data));

        long before = tokenizer.EncodeCalls;
        var first = DataPlan.Load(config, file, tokenizer, tiny.ModelDirectory, Cache);        // the first start builds it
        Assert.True(tokenizer.EncodeCalls > before);
        string cacheFile = Assert.Single(Directory.GetFiles(Path.Combine(_dir.Path, ".qst-tokens")));
        var written = File.GetLastWriteTimeUtc(cacheFile);

        long built = tokenizer.EncodeCalls;
        var resumed = DataPlan.Load(config, file, tokenizer, tiny.ModelDirectory, Cache);      // a resume reads it
        Assert.Equal(built, tokenizer.EncodeCalls);
        Assert.Equal(written, File.GetLastWriteTimeUtc(cacheFile));
        AssertSame(reference, first);
        AssertSame(reference, resumed);

        // A fresh process: a new tokenizer object, so the counter starts at 0 and must stay there.
        var fresh = ModelTokenizer.Load(tiny.ModelDirectory);
        AssertSame(reference, DataPlan.Load(config, file, fresh, tiny.ModelDirectory, Cache));
        Assert.Equal(0, fresh.EncodeCalls);
    }

    [Fact]
    public void AChangedFileOrOptionMissesAndRebuilds()
    {
        string file = WriteAlpaca(120, 5);
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var options = new DataOptions();
        InstructionBatches.Load(file, tokenizer, options, 4, 3, tiny.ModelDirectory, Cache);

        var shorter = options with { MaxTargetTokens = 3 };
        long calls = tokenizer.EncodeCalls;
        var cut = InstructionBatches.Load(file, tokenizer, shorter, 4, 3, tiny.ModelDirectory, Cache);
        Assert.True(tokenizer.EncodeCalls > calls);
        AssertSame(Uncached(file, tokenizer, shorter), cut);

        File.AppendAllText(file, JsonSerializer.Serialize(new { instruction = "add", input = "1 2", output = "3" }) + "\n");
        calls = tokenizer.EncodeCalls;
        var grown = InstructionBatches.Load(file, tokenizer, options, 4, 3, tiny.ModelDirectory, Cache);
        Assert.True(tokenizer.EncodeCalls > calls);
        Assert.Equal(121, grown.ExampleCount);
        AssertSame(Uncached(file, tokenizer, options), grown);

        // Packing, batch size and seed act after the cache: they hit it.
        calls = tokenizer.EncodeCalls;
        var other = InstructionBatches.Load(file, tokenizer, options with { GroupByLength = true }, 8, 9, tiny.ModelDirectory, Cache);
        Assert.Equal(calls, tokenizer.EncodeCalls);
        AssertSame(InstructionBatches.Load(file, tokenizer, options with { GroupByLength = true }, 8, 9, tiny.ModelDirectory), other);
    }

    [Fact]
    public void ADamagedCacheIsRebuiltNotTrusted()
    {
        string file = WriteAlpaca(80, 2);
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        InstructionBatches.Load(file, tokenizer, new DataOptions(), 4, 3, tiny.ModelDirectory, Cache);
        string cacheFile = Assert.Single(Directory.GetFiles(Path.Combine(_dir.Path, ".qst-tokens")));
        using (var s = new FileStream(cacheFile, FileMode.Open)) s.SetLength(s.Length - 4);   // a torn write

        long calls = tokenizer.EncodeCalls;
        var again = InstructionBatches.Load(file, tokenizer, new DataOptions(), 4, 3, tiny.ModelDirectory, Cache);
        Assert.True(tokenizer.EncodeCalls > calls);
        AssertSame(Uncached(file, tokenizer, new DataOptions()), again);
    }

    [Fact]
    public void AnUnwritableDataFolderUsesTheCacheRoot()
    {
        string file = WriteAlpaca(60, 4);
        File.WriteAllText(_dir[".qst-tokens"], "a file where the cache folder would go");   // works even as root, unlike chmod
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var events = new List<TokenCacheProgress>();
        var cache = Cache with { Report = events.Add };

        InstructionBatches.Load(file, tokenizer, new DataOptions(), 4, 3, tiny.ModelDirectory, cache);
        string cacheFile = Assert.Single(Directory.GetFiles(_dir["root"]));
        Assert.StartsWith("built", events[^1].Outcome);

        long calls = tokenizer.EncodeCalls;
        var hit = InstructionBatches.Load(file, tokenizer, new DataOptions(), 4, 3, tiny.ModelDirectory, cache);
        Assert.Equal(calls, tokenizer.EncodeCalls);
        Assert.Equal($"hit ({cacheFile})", events[^1].Outcome);
        AssertSame(Uncached(file, tokenizer, new DataOptions()), hit);
    }
}
