using System.Text.Json;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Datasets.Cache;
using QstOrleans.Data.Tokenization;
using QstOrleans.Tests.Cli;

namespace QstOrleans.Tests.DataScale;

/// <summary>
/// Parallel tokenization equals the serial loop record for record: same examples in the same order, same truncation
/// count, same dropped records (with their lines), whatever the chunk size and thread count.
/// </summary>
public sealed class ParallelTokenizerTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 2)]
    [InlineData(64, 0)]
    public void ChunksJoinInFileOrder(int chunkSize, int threads)
    {
        // Chat records with short and long turns; tight limits truncate some and drop others (nothing trained left).
        var rng = new Random(3);
        string path = _dir["chat.jsonl"];
        File.WriteAllLines(path, Enumerable.Range(0, 500).Select(i => JsonSerializer.Serialize(new
        {
            messages = new[]
            {
                new { role = "user", content = string.Join(' ', Enumerable.Range(0, rng.Next(1, 30)).Select(_ => SyntheticDatasets.Words[rng.Next(SyntheticDatasets.Words.Count)])) },
                new { role = "assistant", content = $"answer {i} " + new string('x', rng.Next(1, 40)) },
            },
        })));
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var template = ChatTemplate.FromModelDirectory(tiny.ModelDirectory, tokenizer.BosToken, tokenizer.EosToken);
        var records = DatasetLoader.Load(path, chatTemplate: template).Records;
        var options = new DataOptions(MaxLength: 24);
        var collator = new SegmentCollator(tokenizer, template, new SegmentCollatorOptions(int.MaxValue));

        var serial = InstructionBatches.Tokenize(records, collator, options);
        var parallel = ParallelTokenizer.Tokenize(records, collator, options,
            new TokenCacheOptions(Enabled: false, ChunkSize: chunkSize, MaxDegreeOfParallelism: threads), path);

        Assert.True(serial.Truncated > 0 && serial.Dropped.Count > 0, "the data must exercise truncation and dropping");
        Assert.Equal(serial.Truncated, parallel.Truncated);
        Assert.Equal(serial.Dropped, parallel.Dropped);
        Assert.Equal(serial.Examples.Count, parallel.Examples.Count);
        for (int i = 0; i < serial.Examples.Count; i++)
        {
            Assert.Equal(serial.Examples[i].InputIds, parallel.Examples[i].InputIds);
            Assert.Equal(serial.Examples[i].Labels, parallel.Examples[i].Labels);
        }
    }
}
