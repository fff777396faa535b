using System.Text.Json;
using QstOrleans.Data.Tokenization;
using QstOrleans.Tests.DataScale;

namespace QstOrleans.Tests.HfTokenizerGolden;

/// <summary>
/// <see cref="ModelTokenizer"/> over HF <c>tokenizer.json</c> files against npm <c>@huggingface/transformers</c>: every
/// line of the shared golden corpus (Tokenization/golden/texts.jsonl: several scripts, digits, whitespace runs, emoji,
/// special-token text, byte fallback), for small files in the four configurations real models ship, as
/// <c>golden/make_golden.mjs</c> wrote them with the library (ids without special tokens added, and its decode of them):
/// llama3 (Split with Llama-3's regex + ByteLevel, ignore_merges), qwen2 (NFC + Qwen-2's regex + ByteLevel),
/// mistral_legacy (Prepend/Replace normalizer, no pre-tokenizer, byte fallback) and llama2_metaspace (Metaspace
/// pre-tokenizer with prepend_scheme "first", byte fallback).
/// </summary>
public sealed class HfTokenizerJsonGoldenTests
{
    static string Tests => Path.GetDirectoryName(Path.GetDirectoryName(ParquetFixtures.SourceFolder))!;
    static string Golden => Path.Combine(Tests, "HfTokenizerGolden", "golden");

    static (List<string> Texts, ModelTokenizer Tokenizer, TestDirectory Dir) Load(string name)
    {
        var texts = File.ReadAllLines(Path.Combine(Tests, "Tokenization", "golden", "texts.jsonl"))
            .Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<string>(l)!).ToList();
        var dir = new TestDirectory();
        File.Copy(Path.Combine(Golden, name + ".tokenizer.json"), dir.File("tokenizer.json"));
        return (texts, ModelTokenizer.Load(dir.Path), dir);
    }

    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen2")]
    [InlineData("mistral_legacy")]
    [InlineData("llama2_metaspace")]
    public void EveryGoldenLineHasTheLibrarysIds(string name)
    {
        var (texts, tokenizer, dir) = Load(name);
        using var _ = dir;
        Assert.Equal(TokenizerFileFormat.HfTokenizerJson, tokenizer.Format);
        var golden = File.ReadAllLines(Path.Combine(Golden, name + ".ids"));
        Assert.Equal(texts.Count, golden.Length);
        var wrong = new List<string>();
        for (int i = 0; i < texts.Count; i++)
        {
            string actual = string.Join(' ', tokenizer.Encode(texts[i]));
            if (actual != golden[i]) wrong.Add($"line {i + 1} {JsonSerializer.Serialize(texts[i])}: transformers [{golden[i]}], ours [{actual}]");
        }
        Assert.True(wrong.Count == 0, $"{name}: {wrong.Count} of {texts.Count} lines differ from @huggingface/transformers; first: {string.Join("\n", wrong.Take(5))}");
    }

    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen2")]
    [InlineData("mistral_legacy")]
    [InlineData("llama2_metaspace")]
    public void EveryGoldenLineDecodesAsTheLibraryDecodes(string name)
    {
        var (texts, tokenizer, dir) = Load(name);
        using var _ = dir;
        var golden = File.ReadAllLines(Path.Combine(Golden, name + ".ids"));
        var decoded = File.ReadAllLines(Path.Combine(Golden, name + ".decoded.jsonl")).Select(l => JsonSerializer.Deserialize<string>(l)!).ToList();
        Assert.Equal(texts.Count, decoded.Count);
        var wrong = new List<string>();
        for (int i = 0; i < texts.Count; i++)
        {
            var ids = golden[i].Length == 0 ? [] : golden[i].Split(' ').Select(int.Parse).ToList();
            string actual = tokenizer.Decode(ids, skipSpecialTokens: false);
            if (actual != decoded[i]) wrong.Add($"line {i + 1}: transformers {JsonSerializer.Serialize(decoded[i])}, ours {JsonSerializer.Serialize(actual)}");
        }
        Assert.True(wrong.Count == 0, $"{name}: {wrong.Count} of {texts.Count} lines decode differently; first: {string.Join("\n", wrong.Take(5))}");
    }
}
