using QstOrleans.Model.Backbone;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// Spec §14 items 2–4: nothing in the backbone trains or records autograd; gradients land exactly on the
/// §1.7 parameter list; N downsample modules; init values and bounds as spec §3 (its published bounds).
/// </summary>
public sealed class QstInvariantTests
{
    /// <summary>Spec §1.7's trainable list, with the shapes for the tiny model (H 64, d 16, p 16, I_s 32, n_kv·d_h 8).</summary>
    static Dictionary<string, long[]> ExpectedTrainable(ModelConfig c, QstConfig q, bool mergeGate)
    {
        long h = c.HiddenSize, d = h / q.R, p = q.AdapterBottleneck, iS = c.IntermediateSize / q.R, kv = c.NumKeyValueHeads * (d / c.NumHeads);
        var e = new Dictionary<string, long[]>();
        for (int i = 0; i < c.NumLayers; i++)
        {
            e[$"downsample.{i}.adapter_A.weight"] = [p, h];
            e[$"downsample.{i}.adapter_B.weight"] = [d, p];
            e[$"downsample.{i}.post_layer_norm.weight"] = [d];
            e[$"downsample.{i}.post_layer_norm.bias"] = [d];
            e[$"z.{i}"] = [d];
            e[$"qst_layers.{i}.self_attn.q_proj.weight"] = [d, d];
            e[$"qst_layers.{i}.self_attn.k_proj.weight"] = [kv, d];
            e[$"qst_layers.{i}.self_attn.v_proj.weight"] = [kv, d];
            e[$"qst_layers.{i}.self_attn.o_proj.weight"] = [d, d];
            e[$"qst_layers.{i}.mlp.gate_proj.weight"] = [iS, d];
            e[$"qst_layers.{i}.mlp.up_proj.weight"] = [iS, d];
            e[$"qst_layers.{i}.mlp.down_proj.weight"] = [d, iS];
            e[$"qst_layers.{i}.input_layernorm.weight"] = [d];
            e[$"qst_layers.{i}.post_attention_layernorm.weight"] = [d];
        }
        e["norm_qst.weight"] = [d];
        e["upsample.weight"] = [h, d];
        e["upsample.bias"] = [h];
        if (mergeGate) e["lm_head_z"] = [h];
        return e;
    }

    static QstModel Build(QstConfig qst) => (QstModel)ModelBuilder.Build(TinyLlama.Directory, TinyLlama.Config,
        new ModelBuildOptions(TrainingMethod.Qst, qst, Precision.Float32, Seed: 9));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GradientsLandOnlyOnSideParameters(bool trainMergeGate)
    {
        var c = TinyLlama.Config;
        var qst = TinyLlama.Qst with { TrainMergeGate = trainMergeGate };
        using var scope = NewDisposeScope();
        using var model = Build(qst);

        var backboneParams = model.Backbone.named_parameters().ToList();
        Assert.NotEmpty(backboneParams);   // embedding + norms at least
        Assert.All(backboneParams, x => Assert.False(x.parameter.requires_grad, $"backbone {x.name} requires grad"));
        Assert.False(model.LmHead.Weight.requires_grad);

        var expected = ExpectedTrainable(c, qst, trainMergeGate);
        var trainable = model.Side.named_parameters().Where(x => x.parameter.requires_grad).ToDictionary(x => x.name, x => x.parameter);
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), trainable.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, shape) in expected) Assert.True(shape.SequenceEqual(trainable[name].shape), $"{name}: shape [{string.Join(",", trainable[name].shape)}]");
        Assert.Equal(expected.Values.Sum(s => s.Aggregate(1L, (a, x) => a * x)), model.Side.TrainableParameterCount);
        // The optimizer sees exactly the side network's trainable tensors.
        Assert.Equal(trainable.Count, model.TrainableParameters.Count);
        Assert.All(model.TrainableParameters, p => Assert.Contains(trainable.Values, q => ReferenceEquals(p, q)));

        var ids = TinyLlama.Tokens(2 * 8, seed: 4);
        using var idsT = tensor(ids, [2, 8]);
        using var mask = ones(2, 8, dtype: ScalarType.Int64);
        using var logits = model.Logits(idsT, mask);
        Assert.True(logits.requires_grad);
        using var loss = CausalLmLoss.Compute(logits, idsT);
        loss.backward();

        foreach (var (name, p) in trainable)
        {
            Assert.True(p.grad is not null, $"side parameter {name} got no gradient");
            using var absSum = p.grad!.abs().sum();
            Assert.True(absSum.item<float>() > 0, $"side parameter {name} has an all-zero gradient");
        }
        Assert.All(model.Backbone.parameters(), p => Assert.Null(p.grad));
        Assert.Null(model.LmHead.Weight.grad);
        if (!trainMergeGate)
        {
            // λ is a saved buffer, not a parameter: no grad, not in the optimizer.
            var lambda = model.Side.named_buffers().Single(x => x.name == "lm_head_z").buffer;
            Assert.False(lambda.requires_grad);
            Assert.DoesNotContain(model.Side.named_parameters(), x => x.name == "lm_head_z");
        }
    }

    [Fact]
    public void RunBackboneRecordsNoAutogradGraph()
    {
        using var scope = NewDisposeScope();
        using var model = Build(TinyLlama.Qst);
        Assert.True(is_grad_enabled());
        using var ids = tensor(TinyLlama.Tokens(2 * 6, seed: 5), [2, 6]);
        using var ctx = AttentionContext.Create(ones(2, 6, dtype: ScalarType.Int64));
        using var taps = model.RunBackbone(ids, ctx);
        Assert.Equal(TinyLlama.Config.NumLayers + 1, taps.Taps.Count);
        Assert.All(taps.Taps, tap => Assert.False(tap.requires_grad));
        Assert.False(taps.FinalNormed!.requires_grad);
        Assert.True(is_grad_enabled());   // no_grad was scoped to the backbone
    }

    [Fact]
    public void InitialGatesAndNormsAreSpecValues()
    {
        var c = TinyLlama.Config;
        using var scope = NewDisposeScope();
        using var side = new QstSideNetwork(c, TinyLlama.Qst, Precision.Float32, seed: 1);
        var ps = side.named_parameters().ToDictionary(x => x.name, x => TensorCheck.ToDoubles(x.parameter));
        for (int i = 0; i < c.NumLayers; i++)
        {
            Assert.All(ps[$"z.{i}"], v => Assert.Equal(0.5, v));
            Assert.All(ps[$"z.{i}"], v => Assert.Equal(0.62246, 1 / (1 + Math.Exp(-v)), 5));   // σ(0.5), spec §1.3
            Assert.All(ps[$"downsample.{i}.post_layer_norm.weight"], v => Assert.Equal(1.0, v));
            Assert.All(ps[$"downsample.{i}.post_layer_norm.bias"], v => Assert.Equal(0.0, v));
            Assert.All(ps[$"qst_layers.{i}.input_layernorm.weight"], v => Assert.Equal(1.0, v));
            Assert.All(ps[$"qst_layers.{i}.post_attention_layernorm.weight"], v => Assert.Equal(1.0, v));
        }
        Assert.All(ps["norm_qst.weight"], v => Assert.Equal(1.0, v));
        Assert.False(ps.ContainsKey("lm_head_z"));
        var lambda = TensorCheck.ToDoubles(side.named_buffers().Single(x => x.name == "lm_head_z").buffer);
        Assert.Equal(c.HiddenSize, lambda.Length);
        Assert.All(lambda, v => Assert.Equal(0.73106, 1 / (1 + Math.Exp(-v)), 5));          // σ(1.0), spec §1.5
        // N downsample modules (A_0 is reused for the embedding tap), not N + 1.
        Assert.Equal(c.NumLayers, side.named_parameters().Select(x => x.name)
            .Where(n => n.StartsWith("downsample.", StringComparison.Ordinal)).Select(n => n.Split('.')[1]).Distinct().Count());
    }

    public static TheoryData<string, double, double, double, double> PublishedBounds() => new()
    {
        // spec §3 table: adapter_A, side q/k/v/o/gate/up (= upsample), side down; adapter_B is 0.25 everywhere
        { "llama2-7b", 0.015625, 0.0625, 0.0381246, 0.25 },
        { "llama2-70b", 0.0110485, 0.0441942, 0.0236228, 0.25 },
    };

    /// <summary>One side layer at the real 7B/70B widths (a few million elements): U(±1/√fan_in) bounds.</summary>
    [Theory]
    [MemberData(nameof(PublishedBounds))]
    public void InitBoundsMatchSpecTable(string preset, double adapterA, double side, double down, double adapterB)
    {
        var c = ModelPresets.Get(preset) with { NumLayers = 1 };
        using var scope = NewDisposeScope();
        using var net = new QstSideNetwork(c, new QstConfig(), Precision.BFloat16, seed: 2);
        var ps = net.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        void Bound(string name, double b)
        {
            var v = TensorCheck.ToDoubles(ps[name]);
            double min = v.Min(), max = v.Max();
            // The table rounds to 6-7 significant digits; allow that rounding.
            Assert.True(max <= b * (1 + 1e-5) && min >= -b * (1 + 1e-5), $"{name}: [{min}, {max}] outside ±{b}");
            Assert.True(max > 0.97 * b && min < -0.97 * b, $"{name}: [{min}, {max}] does not reach ±{b}");
            Assert.True(Math.Abs(v.Average()) < 0.05 * b, $"{name}: mean {v.Average()} not centred");
        }
        Bound("downsample.0.adapter_A.weight", adapterA);
        Bound("downsample.0.adapter_B.weight", adapterB);   // not zero-initialised (spec §3)
        foreach (var proj in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj" })
            Bound($"qst_layers.0.{proj}.weight", side);
        Bound("qst_layers.0.mlp.down_proj.weight", down);
        Bound("upsample.weight", side);
        Bound("upsample.bias", side);
        // Fp32 master weights by default (spec §4 recommendation).
        Assert.Equal(ScalarType.Float32, ps["upsample.weight"].dtype);
    }

    [Fact]
    public void SameSeedSameInitDifferentSeedDifferentInit()
    {
        using var scope = NewDisposeScope();
        using var a = new QstSideNetwork(TinyLlama.Config, TinyLlama.Qst, Precision.Float32, seed: 17);
        using var b = new QstSideNetwork(TinyLlama.Config, TinyLlama.Qst, Precision.Float32, seed: 17);
        using var c = new QstSideNetwork(TinyLlama.Config, TinyLlama.Qst, Precision.Float32, seed: 18);
        var pb = b.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        var pc = c.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        foreach (var (name, p) in a.named_parameters()) TensorCheck.AssertBitwiseEqual(p, pb[name], name);
        Assert.NotEqual(TensorCheck.ToFloats(a.named_parameters().First(x => x.name == "upsample.weight").parameter),
            TensorCheck.ToFloats(pc["upsample.weight"]));
    }
}
