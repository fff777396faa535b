using QstOrleans.Cli.Train;
using QstOrleans.Data.Datasets;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Training;

namespace QstOrleans.Tests.Cli;

/// <summary>`qst train-local` end to end on the tiny model and the synthetic learnable dataset.</summary>
public sealed class TrainLocalTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Theory]
    [InlineData(TrainingMethod.Qst, 1e-2)]
    [InlineData(TrainingMethod.Lora, 3e-3)]
    [InlineData(TrainingMethod.QLora, 3e-3)]
    [InlineData(TrainingMethod.Full, 1e-3)]
    public void TrainingLowersTheLossClearly(TrainingMethod method, double lr)
    {
        var reports = new List<StepReport>();
        var lines = TrainLocalCommand.Run(Settings(method, lr, maxSteps: 80), reports).ToList();
        Assert.Equal(80, reports.Count);
        Assert.Equal(Enumerable.Range(1, 80), reports.Select(r => r.Step));
        float start = reports.Take(3).Average(r => r.Loss);
        float end = reports.TakeLast(10).Average(r => r.Loss);
        // Uniform guessing over the vocabulary costs ln(V) ≈ 6.2 nats; the tasks are learnable.
        Assert.True(end < 0.8f * start, $"{method}: loss {start:F3} -> {end:F3}\n{string.Join('\n', lines)}");
        Assert.All(reports, r => Assert.True(float.IsFinite(r.Loss) && r.TokensPerSecond > 0 && r.PeakMemoryBytes > 0));
        Assert.Contains(lines, l => l.StartsWith("step    80", StringComparison.Ordinal));
    }

    [Fact]
    public void SameSeedGivesBitwiseEqualLossesAndWeights()
    {
        var a = new List<StepReport>();
        var b = new List<StepReport>();
        string outA = tiny.Scratch("run-a"), outB = tiny.Scratch("run-b");
        _ = TrainLocalCommand.Run(Settings(TrainingMethod.Qst, 1e-2, maxSteps: 6) with { Output = outA }, a).ToList();
        _ = TrainLocalCommand.Run(Settings(TrainingMethod.Qst, 1e-2, maxSteps: 6) with { Output = outB }, b).ToList();
        Assert.Equal(a.Select(r => r.Loss), b.Select(r => r.Loss));
        Assert.Equal(File.ReadAllBytes(Path.Combine(outA, "trainable.safetensors")), File.ReadAllBytes(Path.Combine(outB, "trainable.safetensors")));
    }

    [Fact]
    public void ABadDatasetLineIsNamed()
    {
        string bad = tiny.Scratch("bad.jsonl");
        File.WriteAllLines(bad, ["{\"instruction\": \"a\", \"output\": \"b\"}", "{\"instruction\": \"c\"", "{}"]);
        var e = Assert.Throws<DataFormatException>(() => TrainLocalCommand.Run(Settings(TrainingMethod.Qst, 1e-3, 1) with { Data = bad }).ToList());
        Assert.Contains("bad.jsonl:2", e.Message);
    }

    TrainLocalSettings Settings(TrainingMethod method, double lr, int maxSteps) => new()
    {
        Model = tiny.ModelDirectory,
        Data = tiny.DataFile,
        Method = method,
        Optimizer = new OptimizerConfig { LearningRate = lr, MaxGradNorm = 1.0 },
        Trainer = new TrainerConfig(Epochs: 10, MaxSteps: maxSteps, MicroBatchSize: 8, GradientAccumulation: 1, Threads: 2, Seed: 3),
    };
}
