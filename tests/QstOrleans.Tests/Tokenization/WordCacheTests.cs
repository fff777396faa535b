using System.Text.Json;
using QstOrleans.Data.Tokenization;
using QstOrleans.Data.Tokenization.Caching;
using static QstOrleans.Tests.Tokenization.SentencePieceGoldenTests;

namespace QstOrleans.Tests.Tokenization;

/// <summary>
/// The encoders' word cache (<see cref="EncoderOptions.WordCache"/>) changes no id: the SentencePiece BPE goldens
/// (sentencepiece's own output) hold with the cache cold and warm and without it; a model whose pieces join words
/// turns it off (a word-by-word encoder could not produce such a piece); the cache stops growing at its capacity.
/// </summary>
public sealed class WordCacheTests
{
    public static TheoryData<string> BpeModels => new() { "bpe_llama", "bpe_nfkc" };

    [Theory]
    [MemberData(nameof(BpeModels))]
    public void CachedAndUncachedEncodersGiveTheGoldenIdsOnEveryLine(string model)
    {
        var cached = SentencePieceProcessor.Load(GoldenFile(model + ".model"));
        var uncached = SentencePieceProcessor.Load(GoldenFile(model + ".model"), EncoderOptions.Uncached);
        Assert.True(cached.CachesWords, $"{model}: the word cache is off, so this test would not exercise it");
        Assert.False(uncached.CachesWords);
        var texts = Texts();
        var expected = File.ReadLines(GoldenFile(model + ".ids")).ToList();

        var mismatches = new List<string>();
        foreach (var (name, sp) in new[] { ("cold cache", cached), ("warm cache", cached), ("no cache", uncached) })
            for (int i = 0; i < texts.Count; i++)
            {
                string actual = string.Join(' ', sp.Encode(texts[i]));
                if (actual != expected[i]) mismatches.Add($"{name}, line {i + 1} {JsonSerializer.Serialize(texts[i])}: expected [{expected[i]}] got [{actual}]");
            }
        Assert.True(mismatches.Count == 0, $"{model}: {mismatches.Count} lines differ:\n" + string.Join('\n', mismatches.Take(10)));
    }

    [Fact]
    public void APieceThatJoinsTwoWordsTurnsTheCacheOff()
    {
        using var dir = new TestDirectory();
        string[] letters = ["▁", "h", "e", "l", "o", "w", "r", "d"];
        SentencePieceModelWriter.WriteBpe(dir["joined.model"], ["▁w", "o▁w", .. letters]);
        SentencePieceModelWriter.WriteBpe(dir["split.model"], ["▁w", .. letters]);

        var joined = SentencePieceProcessor.Load(dir["joined.model"]);
        Assert.False(joined.CachesWords);
        Assert.Equal(["▁", "h", "e", "l", "l", "o▁w", "o", "r", "l", "d"], joined.EncodePieces("hello world").Select(p => p.Piece));

        var split = SentencePieceProcessor.Load(dir["split.model"]);
        Assert.True(split.CachesWords);
        string[] expected = ["▁", "h", "e", "l", "l", "o", "▁w", "o", "r", "l", "d"];
        Assert.Equal(expected, split.EncodePieces("hello world").Select(p => p.Piece));
        Assert.Equal(expected, split.EncodePieces("hello world").Select(p => p.Piece));           // from the cache
        Assert.Equal(expected, SentencePieceProcessor.Load(dir["split.model"], EncoderOptions.Uncached).EncodePieces("hello world").Select(p => p.Piece));
    }

    [Fact]
    public void TheCacheStopsGrowingAtItsCapacityAndSkipsLongWords()
    {
        var cache = new WordCache<int>();
        for (int i = 0; i < WordCache<int>.Capacity + 10; i++) cache.Add($"w{i}", [i]);
        Assert.Equal(WordCache<int>.Capacity, cache.Count);
        Assert.Equal([7], cache.Find("w7")!);
        Assert.Null(cache.Find($"w{WordCache<int>.Capacity + 5}"));

        var small = new WordCache<int>();
        small.Add(new string('a', WordCache<int>.MaxWordLength + 1), [1]);
        small.Add(new string('a', WordCache<int>.MaxWordLength), [2]);
        Assert.Equal(1, small.Count);
        Assert.Equal([2], small.Find(new string('a', WordCache<int>.MaxWordLength))!);
    }
}
