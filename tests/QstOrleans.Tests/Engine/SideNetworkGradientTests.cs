using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// Autograd gradients of the side network (float64 end to end: random float64 taps and ĥ, a float64
/// LM head, CausalLmLoss in float64) against central finite differences of the loss.
/// </summary>
public sealed class SideNetworkGradientTests(ITestOutputHelper output)
{
    const int B = 2, Tn = 6;

    [Fact]
    public void AutogradMatchesFiniteDifferences() => Check(TinyLlama.Qst with { Fp32MasterWeights = false }, [
        "downsample.0.adapter_A.weight", "downsample.1.adapter_B.weight", "downsample.0.post_layer_norm.weight",
        "downsample.1.post_layer_norm.bias", "z.0", "z.1", "qst_layers.0.self_attn.q_proj.weight",
        "qst_layers.1.self_attn.k_proj.weight", "qst_layers.1.mlp.down_proj.weight",
        "qst_layers.0.input_layernorm.weight", "norm_qst.weight", "upsample.weight", "upsample.bias",
    ]);

    [Fact]
    public void AutogradMatchesFiniteDifferencesWithTrainableMergeGate() =>
        Check(TinyLlama.Qst with { Fp32MasterWeights = false, TrainMergeGate = true },
            ["lm_head_z", "z.1", "upsample.bias", "qst_layers.0.mlp.gate_proj.weight"]);

    void Check(QstConfig qst, string[] names)
    {
        var c = TinyLlama.Config;
        using var scope = NewDisposeScope();
        using var g = new Generator(42);
        using var side = new QstSideNetwork(c, qst, Precision.Float64, seed: 7);
        // Move gates away from their constant init so per-channel mistakes would show.
        using (no_grad())
            foreach (var (name, p) in side.named_parameters())
                if (name.StartsWith("z.", StringComparison.Ordinal)) p.add_(randn(p.shape, generator: g).to(p.dtype));
        var taps = Enumerable.Range(0, c.NumLayers + 1).Select(_ => randn([B, Tn, c.HiddenSize], dtype: ScalarType.Float64, generator: g)).ToList();
        var finalNormed = randn([B, Tn, c.HiddenSize], dtype: ScalarType.Float64, generator: g);
        using var head = new FrozenLmHead(randn([c.VocabSize, c.HiddenSize], dtype: ScalarType.Float64, generator: g) * 0.3, Precision.Float64);
        var labels = randint(3, c.VocabSize, [B, Tn], generator: g);
        labels[0, 3] = tensor(CausalLmLoss.IgnoreIndex);
        using var mask = ones(B, Tn, dtype: ScalarType.Int64);
        using var ctx = AttentionContext.Create(mask);

        Tensor Loss()
        {
            using var f = side.Forward(taps, finalNormed, ctx);
            using var logits = head.Forward(f);
            Assert.Equal(ScalarType.Float64, logits.dtype);
            return CausalLmLoss.Compute(logits, labels);
        }

        var parameters = side.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        side.zero_grad();
        using (var loss = Loss()) loss.backward();

        foreach (var name in names)
        {
            Assert.True(parameters.ContainsKey(name), $"no trainable parameter '{name}'");
            var p = parameters[name];
            var grad = TensorCheck.ToDoubles(p.grad!);
            double gmax = TensorCheck.MaxAbs(grad);
            Assert.True(gmax > 0, $"{name}: gradient is all zero");
            // The two largest-|grad| elements (relative check) and two fixed others (absolute vs the tensor's scale).
            var order = Enumerable.Range(0, grad.Length).OrderByDescending(i => Math.Abs(grad[i])).ToArray();
            var picks = new[] { order[0], order[1], grad.Length / 3, grad.Length - 1 }.Distinct();
            foreach (int k in picks)
            {
                double fd = FiniteDifference(p, k, () => { using var l = Loss(); return l.item<double>(); });
                double err = Math.Abs(fd - grad[k]);
                double rel = err / Math.Max(Math.Abs(grad[k]), gmax * 1e-3);
                output.WriteLine($"{name}[{k}] ({p.dtype}): autograd {grad[k]:E6}  fd {fd:E6}  rel err {rel:E2}");
                Assert.True(rel < 1e-5, $"{name}[{k}]: autograd {grad[k]:E8} vs finite difference {fd:E8} (rel {rel:E2})");
            }
        }
    }

    /// <summary>(L(v + h) − L(v − h)) / (actual stored difference), restoring v afterwards.</summary>
    static double FiniteDifference(Parameter p, long k, Func<double> loss)
    {
        // fp64 storage: h = 1e-6. fp32 storage (norm weights, lm_head_z): a power of two, so v ± h is exact near 1.
        double h = p.dtype == ScalarType.Float64 ? 1e-6 : Math.Pow(2, -10);
        double v = Element(p, k);
        SetElement(p, k, v + h);
        double up = Element(p, k), lossUp = loss();
        SetElement(p, k, v - h);
        double down = Element(p, k), lossDown = loss();
        SetElement(p, k, v);
        Assert.Equal(v, Element(p, k));
        return (lossUp - lossDown) / (up - down);
    }

    static double Element(Tensor p, long k)
    {
        using var flat = p.detach().reshape(-1);
        using var e = flat[k];
        return e.to(ScalarType.Float64).item<double>();
    }

    static void SetElement(Parameter p, long k, double value)
    {
        using var noGrad = no_grad();
        using var flat = p.view(-1);
        using var e = flat.narrow(0, k, 1);
        e.fill_(value);
    }
}
