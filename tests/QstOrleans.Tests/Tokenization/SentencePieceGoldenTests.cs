using System.Text.Json;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Tests.Tokenization;

/// <summary>
/// Every committed line, encoded by our <see cref="SentencePieceProcessor"/>, against the ids and decoded text that
/// Google's sentencepiece itself produced (golden/make_golden.py: models trained with Llama-2's BPE settings, NFKC
/// defaults, unigram with and without byte fallback, user-defined symbols).
/// </summary>
public sealed class SentencePieceGoldenTests
{
    public static TheoryData<string> Models => new() { "bpe_llama", "bpe_nfkc", "unigram_nfkc", "unigram_identity" };

    internal static string GoldenFile(string name) => Path.Combine(AppContext.BaseDirectory, "Tokenization", "golden", name);

    internal static IReadOnlyList<string> Texts() =>
        File.ReadLines(GoldenFile("texts.jsonl")).Select(l => JsonSerializer.Deserialize<string>(l)!).ToList();

    [Theory]
    [MemberData(nameof(Models))]
    public void IdsEqualSentencepieceOnEveryLine(string model)
    {
        var sp = SentencePieceProcessor.Load(GoldenFile(model + ".model"));
        var texts = Texts();
        var expected = File.ReadLines(GoldenFile(model + ".ids")).ToList();
        Assert.Equal(texts.Count, expected.Count);
        Assert.True(texts.Count >= 2000, $"only {texts.Count} golden lines");

        var mismatches = new List<string>();
        for (int i = 0; i < texts.Count; i++)
        {
            string actual = string.Join(' ', sp.Encode(texts[i]));
            if (actual != expected[i])
                mismatches.Add($"line {i + 1} {JsonSerializer.Serialize(texts[i])}: expected [{expected[i]}] got [{actual}]");
        }
        Assert.True(mismatches.Count == 0, $"{model}: {mismatches.Count} of {texts.Count} lines differ:\n" + string.Join('\n', mismatches.Take(10)));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void DecodeEqualsSentencepieceOnEveryLine(string model)
    {
        var sp = SentencePieceProcessor.Load(GoldenFile(model + ".model"));
        var ids = File.ReadLines(GoldenFile(model + ".ids"))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList()).ToList();
        var expected = File.ReadLines(GoldenFile(model + ".decoded.jsonl")).Select(l => JsonSerializer.Deserialize<string>(l)!).ToList();
        Assert.Equal(expected.Count, ids.Count);

        var mismatches = new List<string>();
        for (int i = 0; i < ids.Count; i++)
        {
            string actual = sp.Decode(ids[i]);
            if (actual != expected[i])
                mismatches.Add($"line {i + 1}: expected {JsonSerializer.Serialize(expected[i])} got {JsonSerializer.Serialize(actual)}");
        }
        Assert.True(mismatches.Count == 0, $"{model}: {mismatches.Count} of {ids.Count} lines differ:\n" + string.Join('\n', mismatches.Take(10)));
    }

    [Fact]
    public void ModelTokenizerOfAModelDirectoryGivesTheGoldenIds()
    {
        using var dir = new TestDirectory();
        File.Copy(GoldenFile("bpe_llama.model"), dir.File("tokenizer.model"));
        var tok = ModelTokenizer.Load(dir.Path);
        var texts = Texts();
        var expected = File.ReadLines(GoldenFile("bpe_llama.ids")).ToList();
        Assert.Equal(TokenizerFileFormat.SentencePiece, tok.Format);
        Assert.Equal(1000, tok.VocabSize);
        Assert.Equal((1, 2), (tok.BosId, tok.EosId));
        for (int i = 0; i < texts.Count; i++)
        {
            Assert.Equal(expected[i], string.Join(' ', tok.Encode(texts[i])));
            Assert.Equal(expected[i].Length == 0 ? "1" : "1 " + expected[i], string.Join(' ', tok.Encode(texts[i], addBos: true)));
        }
    }

    [Fact]
    public void ModelsRefuseMissingByteFallbackPieces()
    {
        // A model claiming byte_fallback must carry all 256 byte pieces (sentencepiece checks the same).
        var bytes = File.ReadAllBytes(GoldenFile("bpe_llama.model"));
        var model = SentencePieceModel.Parse(bytes, "bpe_llama.model");
        Assert.True(model.ByteFallback);
        Assert.Equal(SentencePieceAlgorithm.Bpe, model.Algorithm);
        Assert.Equal("identity", model.NormalizerName);
        var ex = Assert.Throws<InvalidDataException>(() => SentencePieceModel.Parse(bytes.AsSpan(0, bytes.Length / 2), "half.model"));
        Assert.Contains("half.model", ex.Message);
    }
}
