using System.Text;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Tests.Data;

public sealed class TiktokenTokenizerTests
{
    // Ranks: the 256 single bytes (rank = byte value), then merges he=256, ll=257, hell=258, hello=259,
    // 12=260, 123=261, 1234=262. Rank limit 263, so Meta's default specials start at 263.
    private static string WriteRanks(TestDirectory dir)
    {
        var sb = new StringBuilder();
        for (int b = 0; b < 256; b++) sb.Append(Convert.ToBase64String([(byte)b])).Append(' ').Append(b).Append('\n');
        string[] merges = ["he", "ll", "hell", "hello", "12", "123", "1234"];
        for (int i = 0; i < merges.Length; i++)
            sb.Append(Convert.ToBase64String(Encoding.UTF8.GetBytes(merges[i]))).Append(' ').Append(256 + i).Append('\n');
        return dir.Write("tokenizer.model", sb.ToString());
    }

    [Fact]
    public void DetectsTiktokenAndUsesDefaultLlama3Specials()
    {
        using var dir = new TestDirectory();
        WriteRanks(dir);
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal(TokenizerFileFormat.Tiktoken, tok.Format);
        Assert.Equal(263, tok.BosId);       // <|begin_of_text|>
        Assert.Equal(264, tok.EosId);       // <|end_of_text|>
        Assert.Equal(264, tok.PadId);       // no pad token: falls back to eos
        Assert.True(tok.PadIsFallback);
        Assert.Equal(263 + 256, tok.VocabSize);
        Assert.Equal(263 + 9, tok.TokenToId("<|eot_id|>")); // Meta's layout: eot_id is the 10th special
    }

    [Fact]
    public void EncodesWithRanksAndLlama3Regex()
    {
        using var dir = new TestDirectory();
        WriteRanks(dir);
        var tok = ModelTokenizer.Load(dir.Path);
        // "hello" merges fully; " world" is one pre-token with no merges -> its bytes.
        Assert.Equal([263, 259, 32, 119, 111, 114, 108, 100], tok.Encode("hello world", addBos: true));
        // Llama-3's regex cuts digit runs into groups of at most 3, so "1234" is never used: "123" + "4".
        Assert.Equal([261, (int)'4'], tok.Encode("1234"));
        Assert.Equal("hello world 1234 é", tok.Decode(tok.Encode("hello world 1234 é", addBos: true)));
    }

    [Fact]
    public void AddedTokensDecoderAndBosTokenFromConfig()
    {
        using var dir = new TestDirectory();
        WriteRanks(dir);
        dir.Write("tokenizer_config.json", """
            { "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
              "added_tokens_decoder": {
                "300": { "content": "<|begin_of_text|>", "special": true },
                "301": { "content": "<|end_of_text|>", "special": true },
                "302": { "content": "<|eot_id|>", "special": true } } }
            """);
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal((300, 302), (tok.BosId, tok.EosId));
        Assert.Equal(303, tok.VocabSize);
        // Special-token text in the input is one token.
        Assert.Equal([259, 302], tok.Encode("hello<|eot_id|>"));
        Assert.Equal("hello", tok.Decode([300, 259, 302]));
    }

    [Fact]
    public void BadRankLineNamesFileAndLine()
    {
        using var dir = new TestDirectory();
        dir.Write("tokenizer.model", "IQ== 0\nIg== 1\nnot-a-rank-line\n");
        var ex = Assert.Throws<InvalidDataException>(() => ModelTokenizer.Load(dir.Path));
        Assert.Contains(dir.File("tokenizer.model") + ":3:", ex.Message);
    }
}
