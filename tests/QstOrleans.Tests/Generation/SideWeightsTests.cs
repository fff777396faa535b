using QstOrleans.Model.Backbone;
using QstOrleans.Model.Generation;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Tests.Engine;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Generation;

/// <summary>
/// SideWeights.Load on files written the way <c>qst train-local --out</c> writes them (trainable parameters
/// by their named_parameters() names): a round trip restores every value; a mis-shaped, missing or unknown
/// tensor is rejected with its name, before anything is copied.
/// </summary>
public sealed class SideWeightsTests
{
    static QstSideNetwork Side(long seed, QstConfig? config = null) =>
        new(TinyLlama.Config, config ?? TinyLlama.Qst, Precision.Float32, seed);

    static string Write(TestDirectory dir, QstSideNetwork side, Func<string, Tensor, Tensor?>? edit = null)
    {
        var writer = new SafeTensorsWriter();
        foreach (var (name, p) in side.named_parameters().Where(p => p.parameter.requires_grad))
        {
            var t = edit is null ? p.detach() : edit(name, p.detach());
            if (t is not null) writer.Add(name, t);
        }
        string path = dir.File("trainable.safetensors");
        writer.Write(path);
        return path;
    }

    [Fact]
    public void RoundTripRestoresEveryParameterAndTheConfig()
    {
        using var dir = new TestDirectory();
        using var scope = NewDisposeScope();
        using var trained = Side(1);
        string path = Write(dir, trained);
        using var fresh = Side(2);
        SideWeights.Load(fresh, path);
        var expected = trained.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in fresh.named_parameters())
            TensorCheck.AssertBitwiseEqual(expected[name], p, name);

        var config = SideWeights.InferConfig(path, TinyLlama.Config);
        Assert.Equal(TinyLlama.Qst.R, config.R);
        Assert.Equal(TinyLlama.Qst.AdapterBottleneck, config.AdapterBottleneck);
        Assert.False(config.TrainMergeGate);
    }

    [Fact]
    public void MisShapedTensorIsNamedAndNothingIsCopied()
    {
        using var dir = new TestDirectory();
        using var scope = NewDisposeScope();
        using var trained = Side(1);
        const string bad = "qst_layers.1.self_attn.k_proj.weight";
        string path = Write(dir, trained, (name, t) => name == bad ? zeros(t.shape[0] + 1, t.shape[1]) : t);
        using var fresh = Side(2);
        var before = TensorCheck.ToFloats(fresh.named_parameters().First(p => p.name == "upsample.weight").parameter);
        var e = Assert.Throws<ModelWeightsException>(() => SideWeights.Load(fresh, path));
        Assert.Equal(bad, e.TensorName);
        Assert.Contains(bad, e.Message);
        Assert.Contains("[9, 16]", e.Message);
        Assert.Equal(before, TensorCheck.ToFloats(fresh.named_parameters().First(p => p.name == "upsample.weight").parameter));
    }

    [Fact]
    public void MissingOrUnknownTensorIsNamed()
    {
        using var dir = new TestDirectory();
        using var scope = NewDisposeScope();
        using var trained = Side(1);
        using var fresh = Side(2);
        string missing = Write(dir, trained, (name, t) => name == "z.1" ? null : t);
        var e = Assert.Throws<ModelWeightsException>(() => SideWeights.Load(fresh, missing));
        Assert.Equal("z.1", e.TensorName);
        Assert.Contains("missing", e.Message);

        // A side network trained with r = 2 (d = 32) does not fit an r = 4 network: the first tensor's name is given.
        using var wide = Side(1, TinyLlama.Qst with { R = 2 });
        string widePath = Write(dir, wide);
        var shape = Assert.Throws<ModelWeightsException>(() => SideWeights.Load(fresh, widePath));
        Assert.Contains(shape.TensorName, shape.Message);
        Assert.Equal(2, SideWeights.InferConfig(widePath, TinyLlama.Config).R);

        var writer = new SafeTensorsWriter();
        foreach (var (name, p) in trained.named_parameters()) writer.Add(name, p.detach());
        writer.Add("lm_head.weight", zeros(2, 2));
        string extra = dir.File("extra.safetensors");
        writer.Write(extra);
        var unknown = Assert.Throws<ModelWeightsException>(() => SideWeights.Load(fresh, extra));
        Assert.Equal("lm_head.weight", unknown.TensorName);
    }
}
