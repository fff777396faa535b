using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Layers;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Evaluation;

/// <summary>Side-network export: tensor names, the base-model checksum, bitwise reload, wrong-base refusal.</summary>
public sealed class SideNetworkExportTests : IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A QST model whose side parameters and merge-gate buffer are moved off their seeded init.</summary>
    static QstModel PerturbedModel()
    {
        var model = (QstModel)ModelBuilder.Build(TinyLlama.Directory, TinyLlama.Config,
            new ModelBuildOptions(Qst: TinyLlama.Qst, Precision: Precision.BFloat16, Seed: 1));
        using var g = new Generator(42);
        using var noGrad = no_grad();
        foreach (var (_, t) in SideNetworkExport.State(model.Side))
        {
            using var noise = randn(t.shape, generator: g).to(t.dtype);
            t.add_(noise, 0.05);
        }
        return model;
    }

    static Tensor Logits(ITrainableModel model)
    {
        using var noGrad = no_grad();
        var ids = tensor(TinyLlama.Tokens(18, seed: 5), [2, 9]);
        return model.Logits(ids, ones(2, 9, dtype: ScalarType.Int64));                  // [2, 9, V]
    }

    string Export(QstModel model)
    {
        string dir = _dir.File("export");
        SideNetworkExport.Export(model.Side, new SideNetworkTraining(Precision.BFloat16, 1, WeightFormat.Nf4, true), dir);
        return dir;
    }

    [Fact]
    public void ReloadGivesBitwiseIdenticalLogits()
    {
        using var scope = NewDisposeScope();
        using var trained = PerturbedModel();
        var expected = Logits(trained);
        string dir = Export(trained);

        using var reloaded = SideNetworkExport.LoadModel(dir, TinyLlama.Directory);
        TensorCheck.AssertBitwiseEqual(expected, Logits(reloaded), "logits after export + reload");

        // The perturbation is not reproducible from the seed, so the comparison above really depends on the file.
        using var fresh = ModelBuilder.Build(TinyLlama.Directory, TinyLlama.Config, new ModelBuildOptions(Qst: TinyLlama.Qst, Seed: 1));
        Assert.True(TensorCheck.MaxAbsDiff(TensorCheck.ToDoubles(expected), TensorCheck.ToDoubles(Logits(fresh))) > 1e-3);
    }

    [Fact]
    public void FileHoldsEveryParameterAndBufferUnderItsModuleName()
    {
        using var scope = NewDisposeScope();
        using var model = PerturbedModel();
        string dir = Export(model);
        using var file = SafeTensorsFile.Open(Path.Combine(dir, SideNetworkExport.WeightsFile));

        // N = 2 layers, H = 64, r = 4 → d = 16, p = 16, I/r = 32, n_kv·d/n_h = 8.
        var expected = new List<string> { "norm_qst.weight", "upsample.weight", "upsample.bias", "lm_head_z" };
        for (int i = 0; i < 2; i++)
        {
            expected.AddRange([$"downsample.{i}.adapter_A.weight", $"downsample.{i}.adapter_B.weight",
                $"downsample.{i}.post_layer_norm.weight", $"downsample.{i}.post_layer_norm.bias", $"z.{i}"]);
            expected.AddRange(new[] { "q", "k", "v", "o" }.Select(p => $"qst_layers.{i}.self_attn.{p}_proj.weight"));
            expected.AddRange(new[] { "gate", "up", "down" }.Select(p => $"qst_layers.{i}.mlp.{p}_proj.weight"));
            expected.AddRange([$"qst_layers.{i}.input_layernorm.weight", $"qst_layers.{i}.post_attention_layernorm.weight"]);
        }
        Assert.Equal(expected.Order(StringComparer.Ordinal), file.Tensors.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([16L, 64], file.Info("downsample.0.adapter_A.weight").Shape);
        Assert.Equal([8L, 16], file.Info("qst_layers.1.self_attn.k_proj.weight").Shape);
        Assert.Equal([32L, 16], file.Info("qst_layers.0.mlp.up_proj.weight").Shape);
        Assert.Equal([64L, 16], file.Info("upsample.weight").Shape);
        Assert.Equal([64L], file.Info("lm_head_z").Shape);
        Assert.Equal("F32", SafeTensorDTypes.ToName(file.Info("z.1").DType));
    }

    [Fact]
    public void ConfigRecordsTheBaseModelChecksumOfItsShapeFields()
    {
        using var scope = NewDisposeScope();
        using var model = PerturbedModel();
        string dir = Export(model);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, SideNetworkExport.ConfigFile)));
        var root = json.RootElement;

        const string canonical = "model_type=llama\nvocab_size=96\nhidden_size=64\nintermediate_size=128\nnum_hidden_layers=2\n" +
                                 "num_attention_heads=4\nnum_key_value_heads=2\nhead_dim=16\ntie_word_embeddings=false\n";
        string sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
        Assert.Equal(sha, root.GetProperty("base_model").GetProperty("shape_sha256").GetString());
        Assert.Equal("tiny-engine-test", root.GetProperty("base_model").GetProperty("name").GetString());
        Assert.Equal(4, root.GetProperty("qst_config").GetProperty("r").GetInt32());
        Assert.Equal("bf16", root.GetProperty("precision").GetString());
        Assert.Equal(1, root.GetProperty("seed").GetInt64());
        Assert.Equal("nf4", root.GetProperty("backbone_format").GetString());
    }

    [Fact]
    public void AWrongBaseModelIsRefusedNamingBoth()
    {
        using var scope = NewDisposeScope();
        using var model = PerturbedModel();
        string dir = Export(model);

        var wider = TinyLlama.Config with { Name = "wider-model", HiddenSize = 128, IntermediateSize = 256, HeadDim = 32 };
        var e = Assert.Throws<SideNetworkMismatchException>(() => SideNetworkExport.Load(dir, wider));
        Assert.Contains("'tiny-engine-test'", e.Message);
        Assert.Contains("'wider-model'", e.Message);
        Assert.Contains("hidden_size 64 vs 128", e.Message);

        // Same widths, other vocabulary: the side network would even fit, but it belongs to another model.
        var otherVocab = TinyLlama.Config with { Name = "other-vocab", VocabSize = 100 };
        Assert.Contains("vocab_size 96 vs 100", Assert.Throws<SideNetworkMismatchException>(() => SideNetworkExport.Load(dir, otherVocab)).Message);

        // The name alone is not part of the checksum: a copied model directory still loads.
        using var copy = SideNetworkExport.Load(dir, TinyLlama.Config with { Name = "renamed-copy" });
        Assert.Equal(model.Side.TrainableParameterCount, copy.TrainableParameterCount);
    }

    [Fact]
    public void AMissingTensorIsNamed()
    {
        using var scope = NewDisposeScope();
        using var model = PerturbedModel();
        string dir = Export(model);
        string path = Path.Combine(dir, SideNetworkExport.WeightsFile);
        var writer = new SafeTensorsWriter();
        using (var file = SafeTensorsFile.Open(path))
            foreach (var name in file.Tensors.Keys.Where(n => n != "z.1"))
                writer.Add(name, file.ReadTensor(name));
        writer.Write(path);
        var e = Assert.Throws<SafeTensorsFormatException>(() => SideNetworkExport.Load(dir, TinyLlama.Config));
        Assert.Contains("z.1", e.Message);
        Assert.Contains(SideNetworkExport.WeightsFile, e.Message);
    }
}
