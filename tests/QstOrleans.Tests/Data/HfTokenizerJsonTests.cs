using System.Text.Json;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Tests.Data;

public sealed class HfTokenizerJsonTests
{
    // Byte-level symbols: ' ' is 'Ġ' (U+0120), '\n' is 'Ċ' (U+010A), 'é' = C3 A9 is 'Ã' '©' (printable bytes map to themselves).
    private static readonly string[] Vocab =
        ["h", "e", "l", "o", "Ġ", "w", "r", "d", "Ã", "©", "Ċ", "he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "rl", "Ã©", "oĠ"];
    // Rank = position. "o Ġ" can only apply when no pre-tokenizer splits "o" from the following space.
    private static readonly string[] Merges =
        ["h e", "l l", "he ll", "o Ġ", "hell o", "Ġ w", "o r", "Ġw or", "r l", "Ã ©"];
    private const int EndOfText = 21;

    private const string Llama3Regex =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static string Write(TestDirectory dir, object preTokenizer, bool arrayMerges = false)
    {
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = new[] { new { id = EndOfText, content = "<|endoftext|>", special = true } },
            ["normalizer"] = null,
            ["pre_tokenizer"] = preTokenizer,
            ["decoder"] = new { type = "ByteLevel" },
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE",
                ["vocab"] = Vocab.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i),
                ["merges"] = arrayMerges ? Merges.Select(m => m.Split(' ')).ToArray() : Merges,
            },
        };
        return dir.Write("tokenizer.json", JsonSerializer.Serialize(json));
    }

    private static readonly object Gpt2Pre = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Gpt2StyleEncodesToHandComputedIds(bool arrayMerges)
    {
        using var dir = new TestDirectory();
        Write(dir, Gpt2Pre, arrayMerges);
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal(TokenizerFileFormat.HfTokenizerJson, tok.Format);
        // "hello" -> he, ll, hell, hello; " world" -> Ġ w o r l d -> Ġw (5) -> or (6) -> Ġwor (7); "r l" no longer applies.
        Assert.Equal([14, 17, 2, 7], tok.Encode("hello world"));
        // "hé" is one word: h Ã © -> h Ã©; "\n" is its own pre-token: Ċ.
        Assert.Equal([0, 19, 10], tok.Encode("hé\n"));
        // GPT-2 style: <|endoftext|> is bos and eos (and pad, as the fallback).
        Assert.Equal((EndOfText, EndOfText, EndOfText, true), (tok.BosId, tok.EosId, tok.PadId, tok.PadIsFallback));
        Assert.Equal([EndOfText, 14, EndOfText, 14], tok.Encode("hello<|endoftext|>hello", addBos: true));
        Assert.Equal(22, tok.VocabSize);
        Assert.Equal("hello world", tok.Decode([14, 17, 2, 7]));
        Assert.Equal("hellohello", tok.Decode([EndOfText, 14, EndOfText, 14]));
        Assert.Equal(13, tok.TokenToId("hell"));
        Assert.Equal(EndOfText, tok.SpecialTokens["<|endoftext|>"]);
        Assert.Equal("<|endoftext|>", tok.EosToken);
    }

    [Fact]
    public void Llama3StyleSplitThenByteLevel()
    {
        using var dir = new TestDirectory();
        Write(dir, new
        {
            type = "Sequence",
            pretokenizers = new object[]
            {
                new { type = "Split", pattern = new { Regex = Llama3Regex }, behavior = "Isolated", invert = false },
                new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = false },
            },
        });
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal([14, 17, 2, 7], tok.Encode("hello world"));
    }

    [Fact]
    public void WithoutASplitMergesCrossWordBoundaries()
    {
        using var dir = new TestDirectory();
        Write(dir, new { type = "ByteLevel", add_prefix_space = false, use_regex = false });
        var tok = ModelTokenizer.Load(dir.Path);
        // h e l l o Ġ w o r l d: he(0) ll(1) hell(2) then "o Ġ"(3) beats "hell o"(4): hell oĠ w o r l d; then or(6).
        Assert.Equal([13, 20, 5, 16, 2, 7], tok.Encode("hello world"));
    }

    [Fact]
    public void ConfigTokensAndSegmentCollatorUseTheAddedTokens()
    {
        using var dir = new TestDirectory();
        Write(dir, Gpt2Pre);
        dir.Write("tokenizer_config.json", """{ "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "h" }""");
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal((0, false), (tok.PadId, tok.PadIsFallback));
        var collator = new SegmentCollator(tok, new ChatTemplate(ChatTemplateFamily.Plain, tok.BosToken, tok.EosToken));
        var e = collator.Tokenize(new TextRecord("hello world", "t", 1));
        Assert.Equal([EndOfText, 14, 17, 2, 7, EndOfText], e.InputIds);
        Assert.Equal([-100, 14, 17, 2, 7, EndOfText], e.Labels);
    }

    [Fact]
    public void TokenizerModelIsPreferredOverTokenizerJson()
    {
        using var dir = new TestDirectory();
        Write(dir, Gpt2Pre);
        SentencePieceModelWriter.WriteBpe(dir.File("tokenizer.model"), ["▁a"]);
        Assert.Equal(TokenizerFileFormat.SentencePiece, ModelTokenizer.Load(dir.Path).Format);
    }

    [Theory]
    [InlineData("""{"model": {"type": "WordPiece", "vocab": {}}}""", "model.type 'WordPiece' is not supported")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "continuing_subword_prefix": "##"}}""", "model.continuing_subword_prefix")]
    [InlineData("""{"normalizer": {"type": "NFKC"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""", "normalizer 'NFKC'")]
    [InlineData("""{"normalizer": {"type": "BertNormalizer"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""", "normalizer 'BertNormalizer'")]
    [InlineData("""{"pre_tokenizer": {"type": "Whitespace"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""", "pre-tokenizer 'Whitespace'")]
    [InlineData("""{"pre_tokenizer": {"type": "Metaspace", "split": true}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""", "pre_tokenizer: Metaspace split: true")]
    [InlineData("""{"decoder": {"type": "CTC"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""", "decoder 'CTC'")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [3]}}""", "model.merges[0]")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": -1}}}""", "model.vocab['a']")]
    [InlineData("""{"model": """, "invalid JSON")]
    public void UnsupportedOrBrokenFilesNameFileAndField(string json, string problem)
    {
        using var dir = new TestDirectory();
        string path = dir.Write("tokenizer.json", json);
        var ex = Assert.Throws<InvalidDataException>(() => ModelTokenizer.Load(dir.Path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(problem, ex.Message);
    }
}
