using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Tests.Data;

public sealed class SyntheticDatasetTests
{
    [Fact]
    public void SameSeedSameFileOtherSeedOtherFile()
    {
        using var dir = new TestDirectory();
        SyntheticDatasets.WriteAlpacaJsonl(dir.File("a.jsonl"), 200, 5);
        SyntheticDatasets.WriteAlpacaJsonl(dir.File("b.jsonl"), 200, 5);
        SyntheticDatasets.WriteAlpacaJsonl(dir.File("c.jsonl"), 200, 6);
        byte[] a = File.ReadAllBytes(dir.File("a.jsonl"));
        Assert.Equal(a, File.ReadAllBytes(dir.File("b.jsonl")));
        Assert.NotEqual(a, File.ReadAllBytes(dir.File("c.jsonl")));
        Assert.Equal(200, AlpacaDataset.Load(dir.File("a.jsonl")).Count);
    }

    [Fact]
    public void EveryRecordIsCorrectForItsTask()
    {
        var records = SyntheticDatasets.Generate(500, 11);
        foreach (var r in records)
        {
            string expected = r.Instruction switch
            {
                SyntheticDatasets.ReverseInstruction => string.Concat(r.Input.Reverse()),
                SyntheticDatasets.UppercaseInstruction => r.Input.ToUpperInvariant(),
                SyntheticDatasets.AddInstruction => (int.Parse(r.Input.Split(' ')[0]) + int.Parse(r.Input.Split(' ')[1])).ToString(),
                SyntheticDatasets.RepeatInstruction => r.Input + " " + r.Input,
                SyntheticDatasets.FirstLetterInstruction => r.Input[..1],
                _ => throw new Xunit.Sdk.XunitException($"unknown task '{r.Instruction}'"),
            };
            Assert.Equal(expected, r.Output);
        }
        // All five tasks appear.
        Assert.Equal(5, records.Select(r => r.Instruction).Distinct().Count());
    }

    [Fact]
    public void TinyTokenizerFromTheCorpusIsCompactAndRoundTrips()
    {
        var records = SyntheticDatasets.Generate(300, 3);
        var pieces = TinyTokenizerBuilder.Build(SyntheticDatasets.TokenizerCorpus(records), 512);
        Assert.InRange(pieces.Count, 100, 512 - 259);
        using var dir = new TestDirectory();
        SentencePieceModelWriter.WriteHfTokenizerFiles(dir.Path, pieces);
        var tok = ModelTokenizer.Load(dir.Path);
        foreach (var r in records.Take(50))
        {
            string prompt = AlpacaPrompt.Format(r.Instruction, r.Input);
            var ids = tok.Encode(prompt);
            // Word-level pieces: far fewer tokens than characters (the template alone is ~230 characters).
            Assert.True(ids.Count < prompt.Length / 4, $"{ids.Count} tokens for {prompt.Length} chars");
            Assert.Equal(prompt, tok.Decode(ids));
            Assert.Equal(r.Output, tok.Decode(tok.Encode(r.Output)));
        }
    }
}
