using System.Text.Json.Nodes;
using QstOrleans.Configuration;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Evaluation;
using QstOrleans.Model.Generation;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// <c>qst.side_heads</c> (issue 14): fewer side attention heads as an opt-in architecture. The tiny model has 4 heads and
/// 2 KV heads (GQA) and side width d = 16: 0 or 4 keeps the reference's 4 × 2 heads of dim 4; 1 gives one head of dim 16.
/// </summary>
public sealed class SideHeadsTests(ITestOutputHelper output) : IDisposable
{
    const int B = 4, T = 24;
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Each row an arithmetic progression mod 90 (learnable from context), labels = inputs.</summary>
    static MicroBatch ToyBatch(int offset = 0)
    {
        var ids = new long[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                ids[b * T + t] = 3 + (b * 11 + offset + t * (b + 2)) % 90;
        return new MicroBatch(ids, (long[])ids.Clone(), Enumerable.Repeat(1L, B * T).ToArray(), B, T);
    }

    static QstModel Build(int sideHeads, long seed = 1) => (QstModel)ModelBuilder.Build(TinyLlama.TrainingDirectory, TinyLlama.Config,
        new ModelBuildOptions(TrainingMethod.Qst, TinyLlama.Qst with { SideHeads = sideHeads }, Precision.BFloat16, Seed: seed));

    static List<StepReport> Train(ITrainableModel model, int steps)
    {
        var batch = ToyBatch();
        var trainer = new LocalTrainer(model, new OptimizerConfig { LearningRate = 1e-2, MaxGradNorm = 1.0 },
            new TrainerConfig(Epochs: steps, MaxSteps: steps, MicroBatchSize: B, Threads: 2, Seed: 0));
        return trainer.Train(_ => [batch], steps).ToList();
    }

    [Fact]
    public void SideShapeUsesTheCountAsPlainMultiHeadAttention()
    {
        var model = TinyLlama.Config;
        Assert.Equal((4, 2, 4), Heads(TinyLlama.Qst.SideShape(model)));
        // Explicitly the backbone's count is the reference's shape, GQA included.
        Assert.Equal((4, 2, 4), Heads((TinyLlama.Qst with { SideHeads = 4 }).SideShape(model)));
        Assert.Equal((1, 1, 16), Heads((TinyLlama.Qst with { SideHeads = 1 }).SideShape(model)));
        Assert.Equal((2, 2, 8), Heads((TinyLlama.Qst with { SideHeads = 2 }).SideShape(model)));

        using var side = new QstSideNetwork(model, TinyLlama.Qst with { SideHeads = 1 }, Precision.BFloat16, seed: 0);
        var p = side.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        Assert.Equal([16L, 16], p["qst_layers.0.self_attn.k_proj.weight"].shape);          // 1 KV head × dim 16
        using var reference = new QstSideNetwork(model, TinyLlama.Qst, Precision.BFloat16, seed: 0);
        Assert.Equal([8L, 16], reference.named_parameters().First(x => x.name == "qst_layers.0.self_attn.k_proj.weight").parameter.shape);

        static (int, int, int) Heads(LayerShape s) => (s.Heads, s.KvHeads, s.HeadDim);
    }

    [Theory]
    [InlineData(-1, "qst.side_heads must be >= 0")]
    [InlineData(3, "qst.side_heads = 3 does not fit side width d = H/r = 16")]     // 16 % 3 != 0
    [InlineData(16, "qst.side_heads = 16 does not fit side width d = H/r = 16")]   // head dim 1: odd, no RoPE pairs
    [InlineData(32, "qst.side_heads = 32 does not fit")]                           // more heads than width
    public void CountsThatDoNotFitAreRefusedNamingTheKey(int heads, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => (TinyLlama.Qst with { SideHeads = heads }).Validate(TinyLlama.Config));
        Assert.Contains(message, e.Message);
        // 8 heads of dim 2 fit.
        (TinyLlama.Qst with { SideHeads = 8 }).Validate(TinyLlama.Config);
    }

    [Fact]
    public void ANegativeCountInAConfigFileIsRefusedNamingTheKeyAndOption()
    {
        var e = Assert.Throws<ArgumentException>(() => TrainingConfigFile.Parse("""{ "qst": { "side_heads": -2 } }""", "cfg.json"));
        Assert.Contains("qst.side_heads (--side-heads) must be >= 0, got -2", e.Message);
        Assert.Equal(3, TrainingConfigFile.Parse("""{ "qst": { "side_heads": 3 } }""", "cfg.json").Qst.SideHeads);
        Assert.Equal(3, QstConfig.From(TrainingConfigFile.Parse("""{ "qst": { "side_heads": 3 } }""", "cfg.json").Qst).SideHeads);
    }

    [Fact]
    public void TheBackbonesCountExplicitlyTrainsBitwiseLikeTheDefault()
    {
        using var scope = NewDisposeScope();
        using var byDefault = Build(0);
        using var explicitly = Build(4);
        var a = Train(byDefault, 5).Select(r => r.Loss).ToArray();
        var b = Train(explicitly, 5).Select(r => r.Loss).ToArray();
        Assert.Equal(a, b);
        // And one head is a different network (the comparison above can fail).
        using var one = Build(1);
        Assert.NotEqual(a, Train(one, 5).Select(r => r.Loss).ToArray());
    }

    [Fact]
    public void OneSideHeadTrains()
    {
        using var scope = NewDisposeScope();
        using var model = Build(1);
        var reports = Train(model, 40);
        float first = reports[0].Loss, last = reports[^1].Loss;
        output.WriteLine($"side_heads = 1: loss {first:F4} -> {last:F4}");
        Assert.All(reports, r => Assert.True(float.IsFinite(r.Loss)));
        Assert.True(last < 0.7f * first, $"loss only went from {first} to {last}");
    }

    [Fact]
    public void AnExportedOneHeadSideNetworkReloadsWithItsShapeAndValLoss()
    {
        using var scope = NewDisposeScope();
        using var trained = Build(1);
        Train(trained, 6);
        MicroBatch[] val = [ToyBatch(offset: 7), ToyBatch(offset: 13)];
        var inMemory = ValidationEvaluator.Evaluate(trained, val);
        string dir = _dir.File("export");
        SideNetworkExport.Export(trained.Side, new SideNetworkTraining(Precision.BFloat16, 1), dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, SideNetworkExport.ConfigFile)))!;
        Assert.Equal(1, json["qst_config"]!["side_heads"]!.GetValue<int>());

        using var reloaded = SideNetworkExport.LoadModel(dir, TinyLlama.TrainingDirectory);
        Assert.Equal(1, reloaded.Side.Config.SideHeads);
        Assert.Equal([16L, 16], reloaded.Side.named_parameters().First(x => x.name == "qst_layers.1.self_attn.k_proj.weight").parameter.shape);
        var again = ValidationEvaluator.Evaluate(reloaded, val);
        output.WriteLine($"val loss in memory {inMemory.Loss:R}, reloaded {again.Loss:R}");
        Assert.Equal(inMemory.Loss, again.Loss);
        // The trained network is not the seeded init: the equality above depends on the file.
        using var fresh = Build(1);
        Assert.NotEqual(inMemory.Loss, ValidationEvaluator.Evaluate(fresh, val).Loss);
    }

    [Fact]
    public void AnOldSideConfigWithoutTheFieldLoadsWithTheBackbonesCount()
    {
        using var scope = NewDisposeScope();
        using var trained = Build(0);
        Train(trained, 3);
        MicroBatch[] val = [ToyBatch(offset: 7)];
        var inMemory = ValidationEvaluator.Evaluate(trained, val);
        string dir = _dir.File("old-export");
        SideNetworkExport.Export(trained.Side, new SideNetworkTraining(Precision.BFloat16, 1), dir);
        string path = Path.Combine(dir, SideNetworkExport.ConfigFile);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.True(json["qst_config"]!.AsObject().Remove("side_heads"));               // what a pre-option export wrote
        File.WriteAllText(path, json.ToJsonString());

        using var reloaded = SideNetworkExport.LoadModel(dir, TinyLlama.TrainingDirectory);
        Assert.Equal(0, reloaded.Side.Config.SideHeads);
        Assert.Equal(inMemory.Loss, ValidationEvaluator.Evaluate(reloaded, val).Loss);
    }

    [Fact]
    public void TheGenerationPathReadsTheCountFromATrainableFilesMetadata()
    {
        using var scope = NewDisposeScope();
        using var side = new QstSideNetwork(TinyLlama.Config, TinyLlama.Qst with { SideHeads = 1 }, Precision.BFloat16, seed: 3);
        string path = _dir.File("trainable.safetensors");
        var writer = new SafeTensorsWriter();
        foreach (var (name, p) in side.named_parameters()) writer.Add(name, p.detach());
        foreach (var (key, value) in SideNetworkExport.TrainableMetadata(TinyLlama.Config, side.Config,
                     new SideNetworkTraining(Precision.BFloat16, 3), TinyLlama.Directory))
            writer.Metadata[key] = value;
        writer.Write(path);
        var inferred = SideWeights.InferConfig(path, TinyLlama.Config);
        Assert.Equal((4, 1), (inferred.R, inferred.SideHeads));
        using var loaded = new QstSideNetwork(TinyLlama.Config, inferred, Precision.BFloat16, seed: 0);
        SideWeights.Load(loaded, path);                                                 // shapes match: throws otherwise

        // A file without the record (an older run's) reads as the backbone's count.
        string bare = _dir.File("bare.safetensors");
        var plain = new SafeTensorsWriter();
        foreach (var (name, p) in side.named_parameters()) plain.Add(name, p.detach());
        plain.Write(bare);
        Assert.Equal(0, SideWeights.InferConfig(bare, TinyLlama.Config).SideHeads);
    }
}
