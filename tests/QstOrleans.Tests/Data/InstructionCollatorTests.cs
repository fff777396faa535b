using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Tests.Data;

public sealed class InstructionCollatorTests
{
    private const int Bos = 1, Eos = 2, Pad = 0, I = -100;

    // A stand-in encoder: one id per whitespace-separated word, id = 10 + word length (easy to work out by hand).
    private static IReadOnlyList<int> Encode(string text) =>
        text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => 10 + w.Length).ToArray();

    private static InstructionCollator Collator(int maxSource = 512, int maxTarget = 512) =>
        new(Encode, Bos, Eos, Pad, new CollatorOptions(maxSource, maxTarget));

    private static InstructionExample Ex(string source, string target) => new(source, target, "t.jsonl", 1);

    [Fact]
    public void LabelsCoverTheTargetOnly()
    {
        var e = Collator().Tokenize(Ex("a bb", "ccc"));
        //                 <s>  a   bb | ccc </s>
        Assert.Equal(new[] { Bos, 11, 12, 13, Eos }, e.InputIds);
        Assert.Equal(new[] { I, I, I, 13, Eos }, e.Labels);
    }

    [Fact]
    public void SourceAndTargetAreTruncatedSeparatelyOnTheRight()
    {
        var e = Collator(maxSource: 2, maxTarget: 2).Tokenize(Ex("a bb ccc", "dddd eeeee ffffff"));
        // source <s> a bb ccc -> <s> a ; target dddd eeeee ffffff </s> -> dddd eeeee (the </s> is cut, as in QLoRA)
        Assert.Equal(new[] { Bos, 11, 14, 15 }, e.InputIds);
        Assert.Equal(new[] { I, I, 14, 15 }, e.Labels);

        var stats = Collator(maxSource: 2, maxTarget: 2).TokenizeAll([Ex("a bb ccc", "d"), Ex("a", "d e")]);
        Assert.Equal((1, 1), (stats.SourceTruncated, stats.TargetTruncated));
    }

    [Fact]
    public void CollateRightPadsRowMajor()
    {
        var c = Collator();
        var batch = c.Collate([c.Tokenize(Ex("a", "bb")), c.Tokenize(Ex("a bb ccc", "dddd eeeee"))]);
        Assert.Equal((2, 7), (batch.BatchSize, batch.SequenceLength));
        Assert.Equal(new long[]
        {
            Bos, 11, 12, Eos, Pad, Pad, Pad,
            Bos, 11, 12, 13, 14, 15, Eos,
        }, batch.InputIds);
        Assert.Equal(new long[]
        {
            I, I, 12, Eos, I, I, I,
            I, I, I, I, 14, 15, Eos,
        }, batch.Labels);
        Assert.Equal(new long[]
        {
            1, 1, 1, 1, 0, 0, 0,
            1, 1, 1, 1, 1, 1, 1,
        }, batch.AttentionMask);
        Assert.Equal(4 + 7, batch.TokenCount);
        Assert.Equal(2 + 3, batch.LabelCount);
    }

    [Fact]
    public void MaskFollowsPositionsWhenPadEqualsEos()
    {
        // Spec 7.3 allows padding with an existing id; the real </s> must stay attended.
        var c = new InstructionCollator(Encode, Bos, Eos, padId: Eos, options: null);
        var batch = c.Collate([c.Tokenize(Ex("a", "b")), c.Tokenize(Ex("a", "b c"))]);
        Assert.Equal(new long[] { Bos, 11, 11, Eos, Eos, Bos, 11, 11, 11, Eos }, batch.InputIds);
        Assert.Equal(new long[] { 1, 1, 1, 1, 0, 1, 1, 1, 1, 1 }, batch.AttentionMask);
        Assert.Equal(new long[] { I, I, 11, Eos, I, I, I, 11, 11, Eos }, batch.Labels);
    }

    [Fact]
    public void RejectsEmptyBatchAndBadLimits()
    {
        Assert.Throws<ArgumentException>(() => Collator().Collate([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Collator(maxSource: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Collator(maxTarget: 0));
    }

    [Fact]
    public void WorksWithARealTokenizer()
    {
        // Pieces: ab=259, ▁ab=260, ▁=261; "ab" -> ▁ab, "ab ab" -> ▁ab ▁ab.
        using var dir = new TestDirectory();
        SentencePieceModelWriter.WriteHfTokenizerFiles(dir.Path, ["ab", "▁ab", "▁", "a", "b"]);
        var c = new InstructionCollator(ModelTokenizer.Load(dir.Path));
        var e = c.Tokenize(Ex("ab ab", "ab"));
        Assert.Equal(new[] { 1, 260, 260, 260, 2 }, e.InputIds);
        Assert.Equal(new[] { I, I, I, 260, 2 }, e.Labels);
    }
}
