using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Data;

public sealed class SegmentCollatorTests
{
    private const int I = -100;
    private const int Bos = 1, Eos = 2, ImStart = 3, ImEnd = 4, Pad = 0;

    // A stand-in tokenizer: one token per character, id = the character's code (so labels can be written by hand).
    private static IReadOnlyList<int> Chars(string text) => text.Select(c => (int)c).ToArray();

    private static readonly Dictionary<string, int> Specials = new()
    {
        ["<s>"] = Bos, ["</s>"] = Eos, ["<|im_start|>"] = ImStart, ["<|im_end|>"] = ImEnd,
    };

    private static SegmentCollator Collator(ChatTemplateFamily family, int maxLength = 1024) =>
        new(Chars, Specials, Pad, new ChatTemplate(family, "<s>", "</s>"), new SegmentCollatorOptions(maxLength));

    private static ChatRecord Chat(params ChatMessage[] m) => new(m, "c.jsonl", 1);

    [Fact]
    public void ChatMlLossOnAssistantTurnsOnly()
    {
        var e = Collator(ChatTemplateFamily.ChatMl).Tokenize(Chat(
            new(ChatRole.User, "hi"), new(ChatRole.Assistant, "yo"), new(ChatRole.User, "q"), new(ChatRole.Assistant, "a")));
        int[] ids =
        [
            ImStart, 'u', 's', 'e', 'r', '\n', 'h', 'i', ImEnd, '\n',
            ImStart, 'a', 's', 's', 'i', 's', 't', 'a', 'n', 't', '\n', 'y', 'o', ImEnd, '\n',
            ImStart, 'u', 's', 'e', 'r', '\n', 'q', ImEnd, '\n',
            ImStart, 'a', 's', 's', 'i', 's', 't', 'a', 'n', 't', '\n', 'a', ImEnd, '\n',
        ];
        int[] labels =
        [
            I, I, I, I, I, I, I, I, I, I,
            I, I, I, I, I, I, I, I, I, I, I, 'y', 'o', ImEnd, I,
            I, I, I, I, I, I, I, I, I,
            I, I, I, I, I, I, I, I, I, I, I, 'a', ImEnd, I,
        ];
        Assert.Equal(ids, e.InputIds);
        Assert.Equal(labels, e.Labels);
    }

    [Fact]
    public void Llama2SpecialTokensMidSequenceBecomeIds()
    {
        var e = Collator(ChatTemplateFamily.Llama2).Tokenize(Chat(
            new(ChatRole.User, "a"), new(ChatRole.Assistant, "b"), new(ChatRole.User, "c"), new(ChatRole.Assistant, "d")));
        // "<s>[INST] a [/INST]" " b </s>" "<s>[INST] c [/INST]" " d </s>"
        int[] inst = ['[', 'I', 'N', 'S', 'T', ']', ' '];
        int[] endInst = [' ', '[', '/', 'I', 'N', 'S', 'T', ']'];
        int[] ids = [Bos, .. inst, 'a', .. endInst, ' ', 'b', ' ', Eos, Bos, .. inst, 'c', .. endInst, ' ', 'd', ' ', Eos];
        int[] prompt = Enumerable.Repeat(I, 1 + inst.Length + 1 + endInst.Length).ToArray();
        int[] labels = [.. prompt, ' ', 'b', ' ', Eos, .. prompt, ' ', 'd', ' ', Eos];
        Assert.Equal(ids, e.InputIds);
        Assert.Equal(labels, e.Labels);
    }

    [Fact]
    public void AlpacaSegmentsMatchTheInstructionCollator()
    {
        // Second code path: the existing QLoRA-style collator (BOS + prompt | output + EOS).
        var record = new AlpacaRecord("Add.", "1 2", "3");
        var expected = new InstructionCollator(Chars, Bos, Eos, Pad, null).Tokenize(record.ToExample("a.jsonl", 1));
        var actual = Collator(ChatTemplateFamily.Plain).Tokenize(new InstructionRecord(record, "a.jsonl", 1));
        Assert.Equal(expected.InputIds, actual.InputIds);
        Assert.Equal(expected.Labels, actual.Labels);
    }

    [Fact]
    public void TextTrainsOnEverythingButBos()
    {
        var e = Collator(ChatTemplateFamily.Plain).Tokenize(new TextRecord("ab", "t.txt", 1));
        Assert.Equal([Bos, 'a', 'b', Eos], e.InputIds);
        Assert.Equal([I, 'a', 'b', Eos], e.Labels);
    }

    [Fact]
    public void TruncationIsCountedAndPromptOnlyExamplesAreDropped()
    {
        var c = Collator(ChatTemplateFamily.Plain, maxLength: 5);
        var report = c.TokenizeAll([
            new TextRecord("abcdef", "t.jsonl", 1),           // <s> a b c d e f </s> -> cut to 5
            new TextRecord("ab", "t.jsonl", 2),               // 4 tokens, kept whole
            new TokenRecord([7, 8, 9, 10, 11, 12], [I, I, I, I, I, 12], "p.jsonl", 3), // cut: label 12 lost -> dropped
        ]);
        Assert.Equal(2, report.Truncated);
        Assert.Equal([Bos, 'a', 'b', 'c', 'd'], report.Examples[0].InputIds);
        Assert.Equal([I, 'a', 'b', 'c', 'd'], report.Examples[0].Labels);
        Assert.Equal([Bos, 'a', 'b', Eos], report.Examples[1].InputIds);
        var dropped = Assert.Single(report.Dropped);
        Assert.Equal(("p.jsonl", 3, "no trained token left after truncation"), (dropped.File, dropped.Line, dropped.Reason));
    }

    [Fact]
    public void PreTokenizedPassesThroughAndCollates()
    {
        var c = Collator(ChatTemplateFamily.Plain);
        var a = c.Tokenize(new TokenRecord([5, 6, 7], [I, 6, 7], "p", 1));
        var b = c.Tokenize(new TokenRecord([8], [8], "p", 2));
        var batch = c.Collate([a, b]);
        Assert.Equal([5, 6, 7, 8, Pad, Pad], batch.InputIds);
        Assert.Equal([I, 6, 7, 8, I, I], batch.Labels);
        Assert.Equal([1, 1, 1, 1, 0, 0], batch.AttentionMask);
    }

    [Fact]
    public void LongestSpecialTokenWinsAtTheSamePosition()
    {
        var specials = new Dictionary<string, int> { ["<a>"] = 5, ["<a>b"] = 6 };
        var c = new SegmentCollator(Chars, specials, Pad, new ChatTemplate(ChatTemplateFamily.Plain, "", ""), null);
        var ids = new List<int>();
        c.EncodeWithSpecials("x<a>b<a>", ids);
        Assert.Equal(['x', 6, 5], ids);
    }
}

public sealed class SegmentCollatorSentencePieceTests
{
    [Fact]
    public void AlpacaThroughSentencePieceMatchesTheInstructionCollator()
    {
        using var dir = new TestDirectory();
        QstOrleans.Data.Tokenization.SentencePieceModelWriter.WriteHfTokenizerFiles(dir.Path, ["▁a", "▁b", "▁", "a", "b"]);
        var tok = QstOrleans.Data.Tokenization.ModelTokenizer.Load(dir.Path);
        Assert.Equal(("<s>", "</s>"), (tok.BosToken, tok.EosToken));
        var record = new AlpacaRecord("a b", "", "b a");
        var expected = new InstructionCollator(tok).Tokenize(record.ToExample("a.jsonl", 1));
        var template = ChatTemplate.FromModelDirectory(dir.Path, tok.BosToken, tok.EosToken);
        var actual = new SegmentCollator(tok, template).Tokenize(new InstructionRecord(record, "a.jsonl", 1));
        Assert.Equal(expected.InputIds, actual.InputIds);
        Assert.Equal(expected.Labels, actual.Labels);
        Assert.Equal(tok.BosId, actual.InputIds[0]);
        Assert.Equal(tok.EosId, actual.InputIds[^1]);
    }
}
