using Microsoft.ML.Tokenizers;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Tests.Data;

public sealed class SentencePieceTokenizerTests
{
    // Normal pieces start at 3 + 256 = 259: ab=259, ▁ab=260, ▁=261, a=262, b=263, c=264.
    private static readonly string[] Pieces = ["ab", "▁ab", "▁", "a", "b", "c"];

    [Fact]
    public void MlTokenizersLoadsOurFileDirectly()
    {
        using var dir = new TestDirectory();
        SentencePieceModelWriter.WriteBpe(dir.File("tokenizer.model"), Pieces);
        using var stream = File.OpenRead(dir.File("tokenizer.model"));
        var sp = LlamaTokenizer.Create(stream, addBeginOfSentence: true, addEndOfSentence: false);

        Assert.True(sp.ByteFallback);
        Assert.True(sp.AddDummyPrefix);
        Assert.Equal(1, sp.BeginningOfSentenceId);
        Assert.Equal(2, sp.EndOfSentenceId);
        Assert.Equal(0, sp.UnknownId);
        Assert.Equal(3 + 256 + Pieces.Length, sp.Vocabulary.Count);
        // "ab ab" -> "▁ab▁ab" -> <s> ▁ab ▁ab
        Assert.Equal([1, 260, 260], sp.EncodeToIds("ab ab"));
    }

    [Theory]
    [InlineData("ab abc", new[] { 260, 260, 264 })]        // ▁ab ▁ab c
    [InlineData("ba", new[] { 261, 263, 262 })]            // ▁ b a: no piece "▁b" or "ba"
    [InlineData("a\nb", new[] { 261, 262, 3 + 0x0A, 263 })] // '\n' is not a piece -> <0x0A>
    [InlineData("é", new[] { 261, 3 + 0xC3, 3 + 0xA9 })]    // é = C3 A9 in UTF-8
    [InlineData("😀", new[] { 261, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80 })] // U+1F600 = F0 9F 98 80
    public void KnownTextsEncodeToHandComputedIds(string text, int[] expected)
    {
        using var dir = new TestDirectory();
        SentencePieceModelWriter.WriteHfTokenizerFiles(dir.Path, Pieces);
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal(expected, tok.Encode(text));
        Assert.Equal([1, .. expected], tok.Encode(text, addBos: true));
        Assert.Equal(text, tok.Decode(tok.Encode(text, addBos: true)));
    }

    [Fact]
    public void ByteFallbackIdsAreThreePlusByteValue()
    {
        using var dir = new TestDirectory();
        SentencePieceModelWriter.WriteHfTokenizerFiles(dir.Path, Pieces);
        var tok = ModelTokenizer.Load(dir.Path);
        for (int b = 0; b < 256; b++)
            Assert.Equal(3 + b, tok.TokenToId($"<0x{b:X2}>"));
    }

    [Theory]
    [InlineData("hello world")]
    [InlineData(" two  spaces and a trailing one ")]
    [InlineData("Ünïcödé ✓ 日本語 🎉🎉")]
    [InlineData("### Response: ")]
    public void RoundTripsArbitraryText(string text)
    {
        using var dir = new TestDirectory();
        SentencePieceModelWriter.WriteHfTokenizerFiles(dir.Path, Pieces);
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal(text, tok.Decode(tok.Encode(text)));
    }

    [Fact]
    public void HfFilesGiveLlamaSpecialIdsAndVocabSize()
    {
        using var dir = new TestDirectory();
        int written = SentencePieceModelWriter.WriteHfTokenizerFiles(dir.Path, Pieces);
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal(265, written);
        Assert.Equal(265, tok.VocabSize);
        Assert.Equal(TokenizerFileFormat.SentencePiece, tok.Format);
        Assert.Equal((1, 2, 0), (tok.BosId, tok.EosId, tok.PadId));
        Assert.True(tok.PadIsFallback);
        // Special tokens are dropped from decoded text unless asked for.
        Assert.Equal("ab", tok.Decode([1, 260, 2]));
        Assert.Equal("<s>ab</s>", tok.Decode([1, 260, 2], skipSpecialTokens: false).Replace(" ", ""));
    }

    [Fact]
    public void ConfigFilesOverrideSpecialIds()
    {
        using var dir = new TestDirectory();
        SentencePieceModelWriter.WriteBpe(dir.File("tokenizer.model"), Pieces);
        dir.Write("tokenizer_config.json", """{ "bos_token": {"content": "<s>"}, "pad_token": "</s>" }""");
        dir.Write("config.json", """{ "eos_token_id": [264, 2], "pad_token_id": 5 }""");
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal(1, tok.BosId);
        Assert.Equal(264, tok.EosId); // first of the list
        Assert.Equal(2, tok.PadId);   // tokenizer_config wins over config.json
        Assert.False(tok.PadIsFallback);
    }

    [Fact]
    public void MissingTokenizerNamesTheFilesLookedFor()
    {
        using var dir = new TestDirectory();
        var ex = Assert.Throws<FileNotFoundException>(() => ModelTokenizer.Load(dir.Path));
        Assert.Contains("tokenizer.model", ex.Message);
        Assert.Contains(Path.Combine("original", "tokenizer.model"), ex.Message);
        Assert.Contains("tokenizer.json", ex.Message);
    }

    [Fact]
    public void GarbageFileIsReportedWithItsPath()
    {
        using var dir = new TestDirectory();
        File.WriteAllBytes(dir.File("tokenizer.model"), [0xFF, 0x00, 0x13]);
        var ex = Assert.Throws<InvalidDataException>(() => ModelTokenizer.Load(dir.Path));
        Assert.Contains(dir.File("tokenizer.model"), ex.Message);
    }

    [Fact]
    public void UnknownConfigTokenNamesTheField()
    {
        using var dir = new TestDirectory();
        SentencePieceModelWriter.WriteBpe(dir.File("tokenizer.model"), Pieces);
        dir.Write("tokenizer_config.json", """{ "pad_token": "[PAD]" }""");
        var ex = Assert.Throws<InvalidDataException>(() => ModelTokenizer.Load(dir.Path));
        Assert.Contains("pad_token '[PAD]'", ex.Message);
    }

    [Fact]
    public void AddedTokenOutsideTheModelBecomesASpecialToken()
    {
        // The QLoRA reference adds "[PAD]" = 32000 after the SentencePiece vocabulary (spec 7.3).
        using var dir = new TestDirectory();
        SentencePieceModelWriter.WriteBpe(dir.File("tokenizer.model"), Pieces);
        dir.Write("tokenizer_config.json",
            """{ "pad_token": "[PAD]", "added_tokens_decoder": { "265": { "content": "[PAD]", "special": true } } }""");
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal(265, tok.PadId);
        Assert.Equal(266, tok.VocabSize);
    }
}
