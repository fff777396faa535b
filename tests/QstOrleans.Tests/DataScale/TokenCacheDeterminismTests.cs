using QstOrleans.Configuration;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Datasets.Cache;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Recipe;
using QstOrleans.Tests.Cli;

namespace QstOrleans.Tests.DataScale;

/// <summary>
/// The parallel cache build writes byte for byte the file a single-threaded build writes (many chunks, more threads
/// than cores, a thread forcing compacting GCs throughout); a rebuild under a new key removes the data file's stale
/// cache and nothing else; <c>--val-data</c> files go through the cache too.
/// </summary>
public sealed class TokenCacheDeterminismTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    string Alpaca(string folder, int count, int seed)
    {
        Directory.CreateDirectory(_dir[folder]);
        string path = Path.Combine(_dir[folder], "data.jsonl");
        SyntheticDatasets.WriteAlpacaJsonl(path, count, seed);
        return path;
    }

    [Fact]
    public void ParallelBuildWritesTheSingleThreadedBytesWhileGcsRun()
    {
        string serialFile = Alpaca("serial", 6000, 21);
        string parallelFile = Path.Combine(_dir["parallel"], "data.jsonl");
        Directory.CreateDirectory(_dir["parallel"]);
        File.Copy(serialFile, parallelFile);
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var options = new DataOptions(MaxSourceTokens: 40, MaxTargetTokens: 24);   // some records truncated

        var serial = InstructionBatches.Load(serialFile, tokenizer, options, 4, 1, tiny.ModelDirectory,
            new TokenCacheOptions(CacheRoot: _dir["root"], MaxDegreeOfParallelism: 1));

        // 6000 records in chunks of 37: 163 chunks over 8 threads on however few cores, while another thread forces
        // blocking, compacting gen-2 collections (moving every array the workers hold) until the build is done.
        using var stop = new CancellationTokenSource();
        int collections = 0;
        var gc = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                collections++;
                // A pause between collections: back to back, each one suspending every thread, they starved the 8 workers on
                // 2 cores (a fresh-clone CI run sat 17+ minutes in this build at 100 % CPU). Still hundreds of GCs per build.
                stop.Token.WaitHandle.WaitOne(2);
            }
        }) { IsBackground = true };
        var chunks = new List<TokenCacheProgress>();
        gc.Start();
        InstructionBatches parallel;
        try
        {
            parallel = InstructionBatches.Load(parallelFile, tokenizer, options, 4, 1, tiny.ModelDirectory,
                new TokenCacheOptions(CacheRoot: _dir["root"], ChunkSize: 37, MaxDegreeOfParallelism: 8, Report: chunks.Add));
        }
        finally
        {
            stop.Cancel();
            gc.Join();
        }

        Assert.True(collections > 0, "the GC thread must have run during the build");
        Assert.StartsWith("built", chunks[^1].Outcome);
        string serialCache = Assert.Single(Directory.GetFiles(Path.Combine(_dir["serial"], ".qst-tokens")));
        string parallelCache = Assert.Single(Directory.GetFiles(Path.Combine(_dir["parallel"], ".qst-tokens")));
        Assert.Equal(Path.GetFileName(serialCache), Path.GetFileName(parallelCache));
        byte[] expected = File.ReadAllBytes(serialCache), actual = File.ReadAllBytes(parallelCache);
        Assert.True(expected.Length > 100_000, $"the cache must be big enough to matter ({expected.Length} bytes)");
        int firstDifference = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(expected.AsSpan().SequenceEqual(actual), $"parallel cache differs from the serial one at byte {firstDifference} of {expected.Length}");
        Assert.Equal(serial.Summary, parallel.Summary);
        Assert.Contains("truncated", serial.Summary);
    }

    [Fact]
    public void TheDefaultBuildsOnEveryCore() => Assert.Equal(0, TokenCacheOptions.Default.MaxDegreeOfParallelism);

    [Fact]
    public void ARebuildRemovesTheStaleCacheOfTheSameFileOnly()
    {
        string file = Alpaca("data", 50, 3);
        string other = Path.Combine(_dir["data"], "other.jsonl");
        SyntheticDatasets.WriteAlpacaJsonl(other, 50, 4);
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var cache = new TokenCacheOptions(CacheRoot: _dir["root"]);
        string folder = Path.Combine(_dir["data"], ".qst-tokens");

        InstructionBatches.Load(other, tokenizer, new DataOptions(), 4, 3, tiny.ModelDirectory, cache);
        InstructionBatches.Load(file, tokenizer, new DataOptions(), 4, 3, tiny.ModelDirectory, cache);
        string otherCache = Assert.Single(Directory.GetFiles(folder, "other.jsonl.*"));
        string first = Assert.Single(Directory.GetFiles(folder, "data.jsonl.*"));
        File.WriteAllText(Path.Combine(folder, "data.jsonl.notakey.tokens"), "not a cache name: left alone");

        InstructionBatches.Load(file, tokenizer, new DataOptions(MaxTargetTokens: 5), 4, 3, tiny.ModelDirectory, cache);   // new key
        string second = Assert.Single(Directory.GetFiles(folder, "data.jsonl.*.tokens").Where(f => !f.Contains("notakey")));
        Assert.NotEqual(first, second);
        Assert.False(File.Exists(first));
        Assert.True(File.Exists(otherCache));
        Assert.True(File.Exists(Path.Combine(folder, "data.jsonl.notakey.tokens")));

        // The cache root (a read-only data folder): same rule there.
        File.Delete(second);
        Directory.Delete(folder, recursive: true);
        File.WriteAllText(folder, "a file where the cache folder would go");
        InstructionBatches.Load(file, tokenizer, new DataOptions(), 4, 3, tiny.ModelDirectory, cache);
        string rootFirst = Assert.Single(Directory.GetFiles(_dir["root"]));
        Assert.StartsWith("data.jsonl.", Path.GetFileName(rootFirst));
        InstructionBatches.Load(file, tokenizer, new DataOptions(MaxTargetTokens: 5), 4, 3, tiny.ModelDirectory, cache);
        Assert.NotEqual(rootFirst, Assert.Single(Directory.GetFiles(_dir["root"])));
    }

    [Fact]
    public void AValidationFileIsTokenizedOnceAcrossStarts()
    {
        string train = Alpaca("data", 40, 6);
        string validation = Path.Combine(_dir["data"], "val.jsonl");
        SyntheticDatasets.WriteAlpacaJsonl(validation, 30, 7);
        var config = TrainingConfig.Defaults with { Schedule = TrainingConfig.Defaults.Schedule with { MicroBatchSize = 4 } };
        var cache = new TokenCacheOptions(CacheRoot: _dir["root"]);

        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var all = DataPlan.Load(config, train, tokenizer, tiny.ModelDirectory, cache);
        var (_, first) = EvaluationSets.Load(config, all, tokenizer, tiny.ModelDirectory, train, validation, null);
        Assert.Single(Directory.GetFiles(Path.Combine(_dir["data"], ".qst-tokens"), "val.jsonl.*"));

        // A restart: a fresh tokenizer tokenizes neither file, and the validation set is the same.
        var fresh = ModelTokenizer.Load(tiny.ModelDirectory);
        var again = DataPlan.Load(config, train, fresh, tiny.ModelDirectory, cache);
        var (_, second) = EvaluationSets.Load(config, again, fresh, tiny.ModelDirectory, train, validation, null);
        var standalone = EvaluationSets.FromFiles(config, fresh, tiny.ModelDirectory, validation, []);
        Assert.Equal(0, fresh.EncodeCalls);
        var reference = InstructionBatches.Load(validation, tokenizer, DataPlan.Options(config.Data) with { Pack = false }, 4, 0, tiny.ModelDirectory);
        foreach (var sets in new[] { first, second, standalone })
        {
            Assert.Equal(reference.ExampleCount, sets.ValidationExamples!.Count);
            for (int i = 0; i < reference.ExampleCount; i++)
                Assert.Equal(reference.Examples[i].InputIds, sets.ValidationExamples[i].InputIds);
        }
    }
}
