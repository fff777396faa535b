using QstOrleans.Data.Tokenization;

namespace QstOrleans.Tests.Data;

public sealed class TinyTokenizerBuilderTests
{
    [Fact]
    public void LearnsHandComputedMerges()
    {
        // Words: "▁ab" x3, "▁abc" x1. Pair counts: (▁,a)=4, (a,b)=4, (b,c)=1; the tie goes to the ordinally
        // smaller pair ("a" < "▁"), so "ab" first; then (▁,ab)=4 -> "▁ab"; then only (▁ab,c)=1 is left: stop.
        // Alphabet after the merges: ▁ (always first), a=4, b=4, c=1.
        var pieces = TinyTokenizerBuilder.Build(["ab ab ab", "abc"], 1000);
        Assert.Equal(["ab", "▁ab", "▁", "a", "b", "c"], pieces);
    }

    [Fact]
    public void RespectsTheVocabularyBudgetAndSkipsControlCharacters()
    {
        var pieces = TinyTokenizerBuilder.Build(["ab ab ab", "abc\n"], 259 + 5);
        Assert.Equal(["ab", "▁", "a", "b", "c"], pieces);
    }

    [Fact]
    public void IsDeterministicAndRejectsTinyBudgets()
    {
        string[] corpus = ["the cat sat on the mat", "the dog sat", "a cat and a dog"];
        Assert.Equal(TinyTokenizerBuilder.Build(corpus, 300), TinyTokenizerBuilder.Build(corpus.ToList(), 300));
        Assert.Throws<ArgumentOutOfRangeException>(() => TinyTokenizerBuilder.Build(corpus, 259));
    }
}
