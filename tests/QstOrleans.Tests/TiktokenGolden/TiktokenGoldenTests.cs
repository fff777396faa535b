using System.Text.Json;
using Microsoft.ML.Tokenizers;
using QstOrleans.Tests.DataScale;

namespace QstOrleans.Tests.TiktokenGolden;

/// <summary>
/// Microsoft.ML.Tokenizers' tiktoken support (what the project's tiktoken-style tokenizers run on) against npm
/// <c>tiktoken</c>, the WASM build of OpenAI's tiktoken: the ids of every line of the shared golden corpus
/// (Tokenization/golden/texts.jsonl: several scripts, digits, whitespace runs, emoji, control characters) for the
/// cl100k_base and o200k_base vocabularies, as <c>golden/make_golden.mjs</c> wrote them with <c>encode_ordinary</c>.
/// </summary>
public sealed class TiktokenGoldenTests
{
    static string Tests => Path.GetDirectoryName(Path.GetDirectoryName(ParquetFixtures.SourceFolder))!;

    [Theory]
    [InlineData("cl100k_base")]
    [InlineData("o200k_base")]
    public void EveryGoldenLineHasTiktokensIds(string encoding)
    {
        var texts = File.ReadAllLines(Path.Combine(Tests, "Tokenization", "golden", "texts.jsonl"))
            .Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<string>(l)!).ToList();
        var golden = File.ReadAllLines(Path.Combine(Tests, "TiktokenGolden", "golden", encoding + ".ids"));
        Assert.Equal(texts.Count, golden.Length);

        // No special tokens: their text is encoded as ordinary text, as encode_ordinary does.
        var tokenizer = TiktokenTokenizer.CreateForEncoding(encoding, extraSpecialTokens: null);
        var wrong = new List<string>();
        for (int i = 0; i < texts.Count; i++)
        {
            string expected = golden[i];
            string actual = string.Join(' ', tokenizer.EncodeToIds(texts[i]));
            if (actual != expected) wrong.Add($"line {i + 1} {JsonSerializer.Serialize(texts[i])}: tiktoken [{expected}], ours [{actual}]");
        }
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {texts.Count} lines differ from tiktoken; first: {string.Join("\n", wrong.Take(5))}");
    }
}
