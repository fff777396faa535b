using QstOrleans.Model.Metrics;
using System.Buffers.Binary;
using System.Text.Json;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Cli.Train;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Evaluation;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Cli;
using QstOrleans.Tests.Engine;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Evaluation;

/// <summary>
/// One short QST `train-local` run (fp32, micro-batch 4, 2 steps, evaluated at step 2) with <c>--out</c>, shared by
/// the evaluation tests that need the tiny CLI model: making the model and training are the slow parts.
/// </summary>
public sealed class EvaluatedRunFixture : IDisposable
{
    public const int Steps = 2, EvalEvery = 2, MicroBatch = 4;
    public const double ValFraction = 0.05;

    public TinyModelFixture Tiny { get; } = new();
    public List<StepReport> Reports { get; } = [];
    public List<string> Lines { get; }
    public string RunDirectory => Tiny.Scratch("run");
    public string MmluFile => Tiny.Scratch("mmlu.jsonl");

    public EvaluatedRunFixture()
    {
        File.WriteAllLines(MmluFile,
        [
            """{"question": "Reverse the word cat.", "choices": ["tac", "cat", "act", "tca"], "answer": "A"}""",
            """{"question": "Uppercase the word dog.", "choices": ["dog", "DOG", "Dog", "dOG"], "answer": "B"}""",
            """{"question": "Add the numbers 3 4.", "choices": ["6", "8", "7", "5"], "answer": "C"}""",
        ]);
        Lines = TrainLocalCommand.Run(Settings(), Reports).ToList();
    }

    public TrainLocalSettings Settings() => new()
    {
        Model = Tiny.ModelDirectory,
        Data = Tiny.DataFile,
        Optimizer = new OptimizerConfig { LearningRate = 1e-2, MaxGradNorm = 1.0 },
        Trainer = new TrainerConfig(Epochs: 1, MaxSteps: Steps, MicroBatchSize: MicroBatch, Threads: 2, Seed: 3),
        Dtype = "fp32",
        EvalEvery = EvalEvery,
        ValFraction = ValFraction,
        Mmlu = MmluFile,
        Output = RunDirectory,
    };

    public void Dispose() => Tiny.Dispose();
}

[CollectionDefinition(Name)]
public sealed class EvaluatedRunCollection : ICollectionFixture<EvaluatedRunFixture>
{
    public const string Name = "evaluated tiny run";
}

/// <summary>`train-local --out` run folders: metrics.jsonl, loss.png / `qst plot`, the QST export and `qst export`.</summary>
[Collection(EvaluatedRunCollection.Name)]
public sealed class RunFolderTests(EvaluatedRunFixture run)
{
    static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    [Fact]
    public void MetricsHaveOneLinePerStepWithTheFields()
    {
        var lines = File.ReadAllLines(Path.Combine(run.RunDirectory, MetricsWriter.FileName));
        Assert.Equal(EvaluatedRunFixture.Steps, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            using var json = JsonDocument.Parse(lines[i]);
            var e = json.RootElement;
            var report = run.Reports[i];
            Assert.Equal(i + 1, e.GetProperty("step").GetInt32());
            Assert.Equal(0, e.GetProperty("epoch").GetInt32());
            Assert.Equal((double)report.Loss, e.GetProperty("loss").GetDouble());
            Assert.Equal(report.LearningRate, e.GetProperty("lr").GetDouble());
            Assert.Equal(report.GradNorm, e.GetProperty("grad_norm").GetDouble());
            Assert.True(e.GetProperty("tokens_per_s").GetDouble() > 0);
            Assert.True(e.GetProperty("peak_rss_bytes").GetInt64() > 0);
            bool evaluated = (i + 1) % EvaluatedRunFixture.EvalEvery == 0;
            Assert.Equal(evaluated, e.TryGetProperty("val_loss", out var valLoss));
            Assert.Equal(evaluated, e.TryGetProperty("mmlu_acc", out var acc));
            if (!evaluated) continue;
            Assert.Equal(Math.Exp(valLoss.GetDouble()), e.GetProperty("val_ppl").GetDouble(), 9);
            Assert.Contains(acc.GetDouble() * 3, new[] { 0.0, 1, 2, 3 });   // 3 questions
        }
        Assert.Contains(run.Lines, l => l.StartsWith("step     2", StringComparison.Ordinal) && l.Contains("val-loss") && l.Contains("mmlu-acc"));
        Assert.Equal(EvaluatedRunFixture.Steps, MetricsWriter.Read(Path.Combine(run.RunDirectory, MetricsWriter.FileName)).Count);
        Assert.Contains(run.Lines, l => l.StartsWith("step     1", StringComparison.Ordinal) && !l.Contains("val-loss"));
    }

    [Fact]
    public void PlotWritesAPng()
    {
        AssertPng(Path.Combine(run.RunDirectory, LossPlot.FileName), 900, 540);
        string redrawn = PlotCommand.Run(run.RunDirectory, run.Tiny.Scratch("redrawn.png"));
        AssertPng(redrawn, 900, 540);
    }

    static void AssertPng(string path, int width, int height)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 2000, $"{path}: only {bytes.Length} bytes");
        Assert.Equal(PngSignature, bytes[..8]);
        // The first chunk is IHDR: width and height as big-endian uint32 at offsets 16 and 20.
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal((width, height), ((int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16)), (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(20))));
    }

    [Fact]
    public void ExportCommandReproducesTheRunsExport()
    {
        string outDir = run.Tiny.Scratch("exported");
        ExportCommand.Run(run.RunDirectory, null, null, outDir);
        Assert.Equal(File.ReadAllBytes(Path.Combine(run.RunDirectory, SideNetworkExport.WeightsFile)),
                     File.ReadAllBytes(Path.Combine(outDir, SideNetworkExport.WeightsFile)));
        Assert.Equal(File.ReadAllText(Path.Combine(run.RunDirectory, SideNetworkExport.ConfigFile)),
                     File.ReadAllText(Path.Combine(outDir, SideNetworkExport.ConfigFile)));

        var e = Assert.Throws<SideNetworkMismatchException>(() => ExportCommand.Run(null, Path.Combine(run.RunDirectory, SideNetworkExport.TrainableFile),
            TinyLlama.Directory, run.Tiny.Scratch("wrong")));
        Assert.Contains(Path.GetFileName(run.Tiny.ModelDirectory), e.Message);
        Assert.Contains(Path.GetFileName(TinyLlama.Directory), e.Message);
    }

    [Fact]
    public void ReloadedExportReproducesTheLastValidationLoss()
    {
        // The held-out examples as documented: i where floor((i+1)·F) > floor(i·F), in file order.
        var tokenizer = ModelTokenizer.Load(run.Tiny.ModelDirectory);
        var collator = new InstructionCollator(tokenizer, new CollatorOptions(512, 512));
        var all = collator.TokenizeAll(AlpacaDataset.Load(run.Tiny.DataFile)).Examples;
        var held = all.Where((_, i) => Math.Floor((i + 1) * EvaluatedRunFixture.ValFraction) > Math.Floor(i * EvaluatedRunFixture.ValFraction)).ToList();
        Assert.Equal((int)(all.Count * EvaluatedRunFixture.ValFraction), held.Count);
        var batches = held.Chunk(EvaluatedRunFixture.MicroBatch).Select(c => collator.Collate(c))
            .Select(b => new MicroBatch(b.InputIds, b.Labels, b.AttentionMask, b.BatchSize, b.SequenceLength)).ToList();

        using var scope = NewDisposeScope();
        using var model = SideNetworkExport.LoadModel(run.RunDirectory, run.Tiny.ModelDirectory);
        var result = ValidationEvaluator.Evaluate(model, batches);
        Assert.Equal(run.Reports[^1].Evaluation!.ValidationLoss!.Value, result.Loss, 12);
    }

    [Fact]
    public void EvalEveryWithoutASetIsRefused()
    {
        var s = run.Settings() with { ValFraction = 0, Mmlu = null, Output = null };
        var e = Assert.Throws<ArgumentException>(() => TrainLocalCommand.Run(s).ToList());
        Assert.Contains("--eval-every", e.Message);
    }
}
