using System.Text.Json;
using QstOrleans.Data.Tokenization;
using QstOrleans.Tests.DataScale;

namespace QstOrleans.Tests.TiktokenGolden;

/// <summary>
/// A Llama-3-style tiktoken <c>tokenizer.model</c> (a ranks file, Llama-3's split pattern, Meta's special tokens
/// numbered from the rank count) loaded as a model directory's tokenizer, against npm <c>tiktoken</c>'s own custom
/// <c>Tiktoken</c> class over the same file (<c>golden/make_llama3_golden.mjs</c>): every line of the shared corpus
/// (<c>encode_ordinary</c>), and chat-formatted lines with special-token text (<c>encode(text, "all")</c>).
/// </summary>
public sealed class Llama3TiktokenGoldenTests : IDisposable
{
    static string Golden => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(ParquetFixtures.SourceFolder))!, "TiktokenGolden", "golden");
    static string Corpus => Path.Combine(Path.GetDirectoryName(Golden)!, "..", "Tokenization", "golden", "texts.jsonl");

    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    ModelTokenizer Load()
    {
        File.Copy(Path.Combine(Golden, "llama3_small.tiktoken"), _dir["tokenizer.model"]);
        var tokenizer = ModelTokenizer.Load(_dir.Path);
        Assert.Equal(TokenizerFileFormat.Tiktoken, tokenizer.Format);
        Assert.Equal(4096, tokenizer.BosId);                                     // <|begin_of_text|> follows the 4096 ranks
        return tokenizer;
    }

    static List<string> Read(string jsonl) =>
        File.ReadAllLines(jsonl).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<string>(l)!).ToList();

    static void AssertLines(IReadOnlyList<string> texts, string[] golden, Func<string, IEnumerable<int>> encode)
    {
        Assert.Equal(texts.Count, golden.Length);
        var wrong = new List<string>();
        for (int i = 0; i < texts.Count; i++)
        {
            string actual = string.Join(' ', encode(texts[i]));
            if (actual != golden[i]) wrong.Add($"line {i + 1} {JsonSerializer.Serialize(texts[i])}: tiktoken [{golden[i]}], ours [{actual}]");
        }
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {texts.Count} lines differ from tiktoken; first: {string.Join("\n", wrong.Take(5))}");
    }

    [Fact]
    public void EveryCorpusLineHasTiktokensIds()
    {
        var tokenizer = Load();
        var texts = Read(Corpus);
        Assert.True(texts.Count >= 2000, $"only {texts.Count} golden lines");
        AssertLines(texts, File.ReadAllLines(Path.Combine(Golden, "llama3_small.ids")), t => tokenizer.Encode(t));
    }

    [Fact]
    public void SpecialTokenTextGetsTiktokensSpecialIds()
    {
        var tokenizer = Load();
        AssertLines(Read(Path.Combine(Golden, "llama3_special_texts.jsonl")), File.ReadAllLines(Path.Combine(Golden, "llama3_small.special.ids")),
            tokenizer.EncodeWithSpecialTokens);
    }
}
