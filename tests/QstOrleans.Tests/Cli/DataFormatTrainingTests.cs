using System.Text.Json;
using QstOrleans.Cli.Train;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Training;

namespace QstOrleans.Tests.Cli;

/// <summary>
/// `qst train-local` on data in other formats than Alpaca (ShareGPT chat, {"text"} JSONL), with packing, and the
/// guarantee that the Alpaca path still gives the batches of the original collator + sampler.
/// </summary>
public sealed class DataFormatTrainingTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    const int Count = 256;

    /// <summary>The synthetic tasks as ShareGPT conversations: the user turn is the instruction and input.</summary>
    string WriteShareGpt()
    {
        string path = tiny.Scratch("chat.jsonl");
        File.WriteAllLines(path, SyntheticDatasets.Generate(Count, 7).Select(r => JsonSerializer.Serialize(new
        {
            conversations = new[] { new { from = "human", value = $"{r.Instruction} {r.Input}" }, new { from = "gpt", value = r.Output } },
        })));
        return path;
    }

    /// <summary>The synthetic tasks as plain completion text, one document per line.</summary>
    string WriteText()
    {
        string path = tiny.Scratch("text.jsonl");
        File.WriteAllLines(path, SyntheticDatasets.Generate(Count, 7).Select(r => JsonSerializer.Serialize(new { text = $"{r.Instruction} {r.Input} = {r.Output}" })));
        return path;
    }

    [Fact]
    public void ShareGptTrainsOnTheAssistantTurnsAndLowersTheLoss()
    {
        string file = WriteShareGpt();
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var data = InstructionBatches.Load(file, tokenizer, new DataOptions(), 8, 3, tiny.ModelDirectory);
        // The tiny model has no chat_template: the plain template trains "output + </s>" of each assistant turn.
        int expectedLabels = SyntheticDatasets.Generate(Count, 7).Sum(r => tokenizer.Encode(r.Output).Count + 1);
        Assert.Equal(Count / 8, data.MicroBatchesPerEpoch);
        Assert.Equal(expectedLabels, Enumerable.Range(0, data.MicroBatchesPerEpoch).Sum(i => data.Get(0, i).LabelCount));

        var (reports, lines) = Train(file, maxSteps: 24);
        Assert.StartsWith("data: chat.jsonl (Chat): kept 256 of 256 records", lines[0]);
        AssertLearns(reports, lines);
    }

    [Fact]
    public void TextTrainsOnEveryTokenAndLowersTheLoss()
    {
        string file = WriteText();
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var data = InstructionBatches.Load(file, tokenizer, new DataOptions(), 8, 3, tiny.ModelDirectory);
        // Text: BOS (no loss) + text + </s> (all trained).
        int expectedLabels = SyntheticDatasets.Generate(Count, 7).Sum(r => tokenizer.Encode($"{r.Instruction} {r.Input} = {r.Output}").Count + 1);
        Assert.Equal(expectedLabels, Enumerable.Range(0, data.MicroBatchesPerEpoch).Sum(i => data.Get(0, i).LabelCount));

        var (reports, lines) = Train(file, maxSteps: 24);
        Assert.StartsWith("data: text.jsonl (Text): kept 256 of 256 records", lines[0]);
        AssertLearns(reports, lines);
    }

    [Fact]
    public void PackingGivesFullFixedLengthBlocks()
    {
        const int block = 64;
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var options = new DataOptions(MaxLength: block, Pack: true);
        var data = InstructionBatches.Load(tiny.DataFile, tokenizer, options, 4, 3, tiny.ModelDirectory);
        // Alpaca examples end in </s>, so packing adds no separator: floor(total tokens / block) full blocks.
        var collator = new InstructionCollator(tokenizer);
        int totalTokens = collator.TokenizeAll(AlpacaDataset.Load(tiny.DataFile)).Examples.Sum(e => e.Length);
        Assert.Equal(totalTokens / block, data.RowCount);
        Assert.Equal(data.RowCount / 4, data.MicroBatchesPerEpoch);
        for (int i = 0; i < data.MicroBatchesPerEpoch; i++)
        {
            var b = data.Get(1, i);
            Assert.Equal((4, block), (b.BatchSize, b.SequenceLength));
            Assert.All(b.AttentionMask, m => Assert.Equal(1, m)); // no padding at all
        }

        var reports = new List<StepReport>();
        var lines = TrainLocalCommand.Run(Settings(tiny.DataFile, 3) with { MaxLength = block, Pack = true }, reports).ToList();
        Assert.Contains("packed blocks", lines[0]);
        Assert.Contains($"in {data.RowCount} blocks of {block} tokens", lines[1]);
        Assert.Equal(3, reports.Count);
        Assert.All(reports, r => Assert.True(float.IsFinite(r.Loss)));
    }

    [Fact]
    public void AlpacaBatchesEqualTheOriginalCollatorAndSampler()
    {
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var data = InstructionBatches.Load(tiny.DataFile, tokenizer, new DataOptions(MaxSourceTokens: 40, MaxTargetTokens: 3), 8, 5, tiny.ModelDirectory);
        // The original path: QLoRA collator over the seeded epoch order, partial last micro-batch dropped.
        var collator = new InstructionCollator(tokenizer, new CollatorOptions(40, 3));
        var examples = collator.TokenizeAll(AlpacaDataset.Load(tiny.DataFile)).Examples;
        var sampler = new EpochSampler(examples.Count, 5);
        Assert.Equal(examples.Count / 8, data.MicroBatchesPerEpoch);
        foreach (int epoch in new[] { 0, 2 })
        {
            int[] order = sampler.Order(epoch);
            for (int i = 0; i < data.MicroBatchesPerEpoch; i++)
            {
                var expected = collator.Collate(Enumerable.Range(0, 8).Select(k => examples[order[i * 8 + k]]).ToList());
                var actual = data.Get(epoch, i);
                Assert.Equal(expected.InputIds, actual.InputIds);
                Assert.Equal(expected.Labels, actual.Labels);
                Assert.Equal(expected.AttentionMask, actual.AttentionMask);
            }
        }
        Assert.DoesNotContain(" 0 truncated", data.Summary); // the limits did cut (responses of up to 9 tokens to 3)
    }

    [Fact]
    public void AForcedWrongFormatNamesTheLineAndAnUnknownFormatIsRefused()
    {
        var e = Assert.Throws<DataFormatException>(() => TrainLocalCommand.Run(Settings(tiny.DataFile, 1) with { Format = "chat" }).ToList());
        Assert.Contains("data.jsonl:1", e.Message);
        var a = Assert.Throws<ArgumentException>(() => TrainLocalCommand.Run(Settings(tiny.DataFile, 1) with { Format = "csv" }).ToList());
        Assert.Contains("--format", a.Message);
    }

    (List<StepReport> Reports, List<string> Lines) Train(string file, int maxSteps)
    {
        var reports = new List<StepReport>();
        var lines = TrainLocalCommand.Run(Settings(file, maxSteps), reports).ToList();
        return (reports, lines);
    }

    static void AssertLearns(List<StepReport> reports, List<string> lines)
    {
        Assert.All(reports, r => Assert.True(float.IsFinite(r.Loss)));
        float start = reports.Take(3).Average(r => r.Loss);
        float end = reports.TakeLast(5).Average(r => r.Loss);
        Assert.True(end < 0.9f * start, $"loss {start:F3} -> {end:F3}\n{string.Join('\n', lines)}");
    }

    TrainLocalSettings Settings(string data, int maxSteps) => new()
    {
        Model = tiny.ModelDirectory,
        Data = data,
        Method = TrainingMethod.Qst,
        Optimizer = new OptimizerConfig { LearningRate = 1e-2, MaxGradNorm = 1.0 },
        Trainer = new TrainerConfig(Epochs: 10, MaxSteps: maxSteps, MicroBatchSize: 8, GradientAccumulation: 1, Threads: 2, Seed: 3),
    };
}
