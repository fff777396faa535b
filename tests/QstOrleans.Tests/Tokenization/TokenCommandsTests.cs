using System.Text.Json;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Tests.Tokenization;

/// <summary><c>qst tokenize</c> / <c>qst detokenize</c> against sentencepiece's own golden ids and decodes.</summary>
public sealed class TokenCommandsTests
{
    private static (ModelTokenizer Tokenizer, TestDirectory Dir) Load(string model)
    {
        var dir = new TestDirectory();
        File.Copy(SentencePieceGoldenTests.GoldenFile(model + ".model"), dir.File("tokenizer.model"));
        return (ModelTokenizer.Load(dir.Path), dir);
    }

    // Golden lines that survive a round trip through a text file (no line breaks inside).
    private static List<int> SingleLineIndexes() => SentencePieceGoldenTests.Texts()
        .Select((t, i) => (t, i)).Where(x => !x.t.Contains('\n') && !x.t.Contains('\r')).Select(x => x.i).ToList();

    [Theory]
    [InlineData("bpe_llama")]
    [InlineData("unigram_nfkc")]
    public void TokenizeFileWithIdsPrintsTheGoldenIdsLineByLine(string model)
    {
        var (tokenizer, dir) = Load(model);
        using var _ = dir;
        var texts = SentencePieceGoldenTests.Texts();
        var golden = File.ReadLines(SentencePieceGoldenTests.GoldenFile(model + ".ids")).ToList();
        var keep = SingleLineIndexes();
        File.WriteAllLines(dir.File("input.txt"), keep.Select(i => texts[i]));

        var output = new StringWriter { NewLine = "\n" };
        TokenCommands.Tokenize(tokenizer, File.ReadLines(dir.File("input.txt")), TokenCommands.TokenOutput.Ids, bos: false, output);

        Assert.Equal(keep.Select(i => golden[i]), output.ToString().Split('\n')[..^1]);
    }

    [Fact]
    public void TokenizeDefaultPrintsIdsAndPiecesWithOptionalBos()
    {
        var (tokenizer, dir) = Load("bpe_llama");
        using var _ = dir;
        var output = new StringWriter { NewLine = "\n" };
        TokenCommands.Tokenize(tokenizer, ["aaaa"], TokenCommands.TokenOutput.Both, bos: true, output);
        // sentencepiece: "aaaa" -> ▁a a a a = 265 739 739 739 (golden line 10), BOS = 1.
        Assert.Equal("ids:    1 265 739 739 739\npieces: <s> ▁a a a a\n", output.ToString());
    }

    [Fact]
    public void DetokenizeFileGivesSentencepiecesDecodedText()
    {
        var (tokenizer, dir) = Load("bpe_nfkc");
        using var _ = dir;
        var decoded = File.ReadLines(SentencePieceGoldenTests.GoldenFile("bpe_nfkc.decoded.jsonl"))
            .Select(l => JsonSerializer.Deserialize<string>(l)!).ToList();
        var ids = File.ReadLines(SentencePieceGoldenTests.GoldenFile("bpe_nfkc.ids")).ToList();
        var keep = Enumerable.Range(0, ids.Count).Where(i => !decoded[i].Contains('\n') && !decoded[i].Contains('\r')).ToList();

        var output = new StringWriter { NewLine = "\n" };
        TokenCommands.Detokenize(tokenizer, keep.Select(i => ids[i]), keepSpecial: false, output);

        Assert.Equal(keep.Select(i => decoded[i]), output.ToString().Split('\n')[..^1]);
    }

    [Fact]
    public void DetokenizeNamesTheOptionForABadId()
    {
        var (tokenizer, dir) = Load("bpe_llama");
        using var _ = dir;
        var ex = Assert.Throws<ArgumentException>(() => TokenCommands.Detokenize(tokenizer, ["1 2", "3 x"], false, TextWriter.Null));
        Assert.Contains("--ids: line 2: 'x'", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => TokenCommands.Detokenize(tokenizer, ["1000"], false, TextWriter.Null));
        Assert.Contains("'1000'", ex.Message);
    }
}
