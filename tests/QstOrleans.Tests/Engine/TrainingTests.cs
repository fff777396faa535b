using QstOrleans.Model.Baselines;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// Spec §14.6: on the tiny random model and a fixed toy batch (4 × 24 tokens, labels = inputs), AdamW at
/// lr 1e-2 lowers the loss clearly for QST and every baseline; QST runs are bitwise reproducible.
/// </summary>
public sealed class TrainingTests(ITestOutputHelper output)
{
    const int B = 4, T = 24, Steps = 40;

    /// <summary>Each row is an arithmetic progression mod 90 (learnable from context), in [3, 93).</summary>
    static MicroBatch ToyBatch()
    {
        var ids = new long[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                ids[b * T + t] = 3 + (b * 11 + t * (b + 2)) % 90;
        return new MicroBatch(ids, (long[])ids.Clone(), Enumerable.Repeat(1L, B * T).ToArray(), B, T);
    }

    static List<StepReport> Train(ITrainableModel model, int steps)
    {
        var batch = ToyBatch();
        var trainer = new LocalTrainer(model,
            new OptimizerConfig { LearningRate = 1e-2, MaxGradNorm = 1.0 },
            new TrainerConfig(Epochs: steps, MaxSteps: steps, MicroBatchSize: B, Threads: 2, Seed: 0));
        return trainer.Train(_ => [batch], steps).ToList();
    }

    [Theory]
    [InlineData(TrainingMethod.Qst, "bf16")]
    [InlineData(TrainingMethod.Lora, "fp32")]
    [InlineData(TrainingMethod.QLora, "fp32")]
    [InlineData(TrainingMethod.Full, "fp32")]
    public void LossFallsOnToyBatch(TrainingMethod method, string compute)
    {
        using var scope = NewDisposeScope();
        using var model = ModelBuilder.Build(TinyLlama.TrainingDirectory, TinyLlama.Config,
            new ModelBuildOptions(method, TinyLlama.Qst, Precision.Parse(compute), Seed: 1));
        var reports = Train(model, Steps);
        Assert.Equal(Steps, reports.Count);
        Assert.Equal(Enumerable.Range(1, Steps), reports.Select(r => r.Step));
        float first = reports[0].Loss, last = reports[^1].Loss;
        output.WriteLine($"{method} {compute}: loss {first:F4} -> {last:F4} ({last / first:P1}); " +
                         $"step 10 {reports[9].Loss:F4}, step 20 {reports[19].Loss:F4}");
        // A random 96-token model starts near ln 96 = 4.56 (a little above: the loud head spreads the logits).
        Assert.InRange(first, 3.5f, 7.0f);
        Assert.All(reports, r => Assert.True(float.IsFinite(r.Loss)));
        Assert.True(last < 0.7f * first, $"{method}: loss only went from {first} to {last}");
    }

    [Fact]
    public void SameSeedQstRunsAreBitwiseIdentical()
    {
        using var scope = NewDisposeScope();
        var options = new ModelBuildOptions(TrainingMethod.Qst, TinyLlama.Qst, Precision.BFloat16, Seed: 5);
        using var a = (QstModel)ModelBuilder.Build(TinyLlama.TrainingDirectory, TinyLlama.Config, options);
        using var b = (QstModel)ModelBuilder.Build(TinyLlama.TrainingDirectory, TinyLlama.Config, options);
        var la = Train(a, 6).Select(r => r.Loss).ToArray();
        var lb = Train(b, 6).Select(r => r.Loss).ToArray();
        Assert.Equal(la, lb);
        var pb = b.Side.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        foreach (var (name, p) in a.Side.named_parameters()) TensorCheck.AssertBitwiseEqual(p, pb[name], name);
        // And training did move the weights (the comparison is not of two untouched inits).
        using var fresh = new Model.Qst.QstSideNetwork(TinyLlama.Config, TinyLlama.Qst, Precision.BFloat16, seed: 5);
        var f = fresh.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        Assert.NotEqual(TensorCheck.ToFloats(f["upsample.weight"]), TensorCheck.ToFloats(pb["upsample.weight"]));
    }
}
