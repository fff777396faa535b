using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// The side network's forward (fp32) against the QST formulas of spec §1.1–§1.5 evaluated in double
/// with <see cref="LlamaReference"/>: s = A_0(tap_0); per layer s = (1−σ(z_i))⊙A_i(tap_{i+1}) + σ(z_i)⊙s,
/// s = S_i(s); f = (1−σ(λ))⊙U(RMSNorm(s)) + σ(λ)⊙ĥ. A_0 is applied to both the embedding tap and layer 0's
/// tap. Gates, norms and λ are randomised first so that a swapped gate or wrong channel would show.
/// </summary>
public sealed class QstSideReferenceTests(ITestOutputHelper output)
{
    [Fact]
    public void SideForwardMatchesDoubleReference()
    {
        var c = TinyLlama.Config;
        var qst = TinyLlama.Qst;
        const int b = 2, t = 7;
        int h = c.HiddenSize, d = h / qst.R, p = qst.AdapterBottleneck, iS = c.IntermediateSize / qst.R;
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        using var side = new QstSideNetwork(c, qst, Precision.Float32, seed: 3);
        using (no_grad())
        {
            foreach (var (name, prm) in side.named_parameters())
            {
                if (name.StartsWith("z.", StringComparison.Ordinal)) prm.copy_(randn(prm.shape, generator: g));
                else if (name.EndsWith("norm.weight", StringComparison.Ordinal) || name.EndsWith("norm_qst.weight", StringComparison.Ordinal))
                    prm.copy_(1 + 0.3 * randn(prm.shape, generator: g));
                else if (name.EndsWith("post_layer_norm.bias", StringComparison.Ordinal)) prm.copy_(0.3 * randn(prm.shape, generator: g));
            }
            var lambda = side.named_buffers().Single(x => x.name == "lm_head_z").buffer;
            lambda.copy_(randn(lambda.shape, generator: g));
        }
        var taps = Enumerable.Range(0, c.NumLayers + 1).Select(_ => randn([b, t, h], generator: g)).ToList();
        var finalNormed = randn([b, t, h], generator: g);
        var mask = ones(b, t, dtype: ScalarType.Int64);
        mask[1, t - 1] = tensor(0L);
        mask[1, t - 2] = tensor(0L);
        using var ctx = AttentionContext.Create(mask);
        using var f = side.Forward(taps, finalNormed, ctx);
        Assert.Equal(new long[] { b, t, h }, f.shape);

        var w = side.named_parameters().ToDictionary(x => x.name, x => TensorCheck.ToDoubles(x.parameter));
        foreach (var (name, buffer) in side.named_buffers()) w[name] = TensorCheck.ToDoubles(buffer);
        // Exactly N downsample adapters: A_0 serves both the embedding and layer 0.
        Assert.Equal(c.NumLayers, w.Keys.Where(k => k.EndsWith("adapter_A.weight", StringComparison.Ordinal)).Count());

        double[] Row(Tensor x, int r) { using var row = x[r]; return TensorCheck.ToDoubles(row); }
        double[] Adapter(int i, double[] x)
        {
            var a = LlamaReference.Linear(x, t, h, w[$"downsample.{i}.adapter_A.weight"], p);
            for (int k = 0; k < a.Length; k++) a[k] = LlamaReference.Silu(a[k]);
            var bOut = LlamaReference.Linear(a, t, p, w[$"downsample.{i}.adapter_B.weight"], d);
            return LlamaReference.LayerNorm(bOut, t, d, w[$"downsample.{i}.post_layer_norm.weight"], w[$"downsample.{i}.post_layer_norm.bias"], 1e-5);
        }

        for (int r = 0; r < b; r++)
        {
            var keep = Enumerable.Range(0, t).Select(j => r == 0 || j < t - 2).ToArray();
            var s = Adapter(0, Row(taps[0], r));
            for (int i = 0; i < c.NumLayers; i++)
            {
                var down = Adapter(i, Row(taps[i + 1], r));
                var z = w[$"z.{i}"];
                for (int k = 0; k < s.Length; k++)
                {
                    double gate = LlamaReference.Sigmoid(z[k % d]);
                    s[k] = (1 - gate) * down[k] + gate * s[k];
                }
                var layer = RefLayer.From(n => w[n], $"qst_layers.{i}.", d, iS, c.NumHeads, c.NumKeyValueHeads,
                    d / c.NumHeads, c.NormEps, 10000.0);
                s = LlamaReference.Layer(s, t, keep, layer);
            }
            var normed = LlamaReference.RmsNorm(s, t, d, w["norm_qst.weight"], c.NormEps);
            var up = LlamaReference.Linear(normed, t, d, w["upsample.weight"], h, w["upsample.bias"]);
            var hHat = Row(finalNormed, r);
            var expected = new double[up.Length];
            for (int k = 0; k < up.Length; k++)
            {
                double a = LlamaReference.Sigmoid(w["lm_head_z"][k % h]);
                expected[k] = (1 - a) * up[k] + a * hHat[k];
            }
            double err = TensorCheck.MaxAbsDiff(expected, Row(f, r));
            double scale = TensorCheck.MaxAbs(expected);
            output.WriteLine($"side f row {r}: max |err| = {err:E3}, max |f| = {scale:E3}, rel = {err / scale:E3}");
            Assert.True(err < 1e-5 * scale, $"side output row {r} differs from the reference by {err:E3} (scale {scale:E3})");
        }
    }
}
