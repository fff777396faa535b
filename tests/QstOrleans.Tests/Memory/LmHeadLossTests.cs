using QstOrleans.Model.Layers;
using QstOrleans.Model.Loss;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Memory;

/// <summary>
/// The chunked LM head + cross-entropy (<see cref="LmHeadLoss"/>) against (1) the math written out in float64 loops,
/// (2) the plain path <c>CausalLmLoss.Compute(head.Forward(f), labels)</c> with autograd, and (3) central finite
/// differences in float64; chunk lengths that split the kept positions unevenly, ignored labels in the middle and at
/// both ends, and a trainable head weight (full fine-tuning).
/// </summary>
public sealed class LmHeadLossTests(ITestOutputHelper output)
{
    const int B = 2, T = 9, E = 16, V = 50;

    static readonly long[] Labels =
    [
        -100, 4, 17, -100, 49, 0, 8, 8, -100,
        3, -100, -100, 21, 30, 2, 45, 11, 6,
    ];

    static (Tensor F, Tensor W, Tensor Labels) Make(ScalarType dtype, bool weightGrad = false)
    {
        using var g = new Generator(17);
        var f = (randn([B, T, E], dtype: ScalarType.Float64, generator: g) * 2).to(dtype).requires_grad_(true);   // [B, T, E]
        var w = (randn([V, E], dtype: ScalarType.Float64, generator: g) * 0.5).to(dtype).requires_grad_(weightGrad);   // [V, E]
        return (f, w, tensor(Labels, [B, T]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(1024)]
    public void LossAndInputGradientEqualTheMathWrittenOut(int chunk)
    {
        using var scope = NewDisposeScope();
        var (f, w, labels) = Make(ScalarType.Float32);
        var loss = LmHeadLoss.Compute(f, w, ScalarType.Float32, labels, chunk);
        loss.backward();

        // Written out: position p of row r predicts labels[r, p + 1]; K kept; loss = Σ (lse − z_target) / K;
        // ∂loss/∂f[r, p] = Σ_v (softmax(z)_v − [v = target]) · W[v] / K.
        var x = TensorCheck.ToDoubles(f);
        var wd = TensorCheck.ToDoubles(w);
        var expectedGrad = new double[x.Length];
        double sum = 0;
        int kept = Labels.Where((l, i) => i % T != 0 && l != -100).Count();
        for (int r = 0; r < B; r++)
            for (int p = 0; p < T - 1; p++)
            {
                long target = Labels[r * T + p + 1];
                if (target == -100) continue;
                var z = new double[V];
                for (int v = 0; v < V; v++)
                    for (int e = 0; e < E; e++) z[v] += x[(r * T + p) * E + e] * wd[v * E + e];
                double max = z.Max(), lse = max + Math.Log(z.Sum(a => Math.Exp(a - max)));
                sum += lse - z[target];
                for (int v = 0; v < V; v++)
                {
                    double dz = (Math.Exp(z[v] - lse) - (v == target ? 1 : 0)) / kept;
                    for (int e = 0; e < E; e++) expectedGrad[(r * T + p) * E + e] += dz * wd[v * E + e];
                }
            }
        Assert.Equal(12, kept);
        Assert.Equal(sum / kept, loss.item<float>(), 5);
        double err = TensorCheck.MaxAbsDiff(expectedGrad, TensorCheck.ToDoubles(f.grad!));
        output.WriteLine($"chunk {chunk}: loss {loss.item<float>():R}, max |grad − written out| {err:E2} (max |grad| {TensorCheck.MaxAbs(expectedGrad):E2})");
        Assert.True(err < 1e-6, $"input gradient differs from the math by {err:E2}");
    }

    [Theory]
    [InlineData("fp32", 3)]
    [InlineData("fp32", 1024)]
    [InlineData("bf16", 3)]
    [InlineData("bf16", 1024)]
    public void EqualsThePlainPathThroughAFrozenHead(string compute, int chunk)
    {
        using var scope = NewDisposeScope();
        var precision = Precision.Parse(compute);
        var (f, w, labels) = Make(ScalarType.Float32);
        using var head = new FrozenLmHead(w.to(ScalarType.BFloat16), precision);   // stored bf16, as loaded

        var plain = CausalLmLoss.Compute(head.Forward(f), labels);
        plain.backward();
        var plainGrad = f.grad!.clone();
        f.grad!.zero_();
        var chunked = LmHeadLoss.Compute(head, f, labels, chunk);
        chunked.backward();

        double lossErr = Math.Abs(plain.item<float>() - chunked.item<float>());
        double gradErr = TensorCheck.MaxAbsDiff(TensorCheck.ToDoubles(plainGrad), TensorCheck.ToDoubles(f.grad!));
        double scale = TensorCheck.MaxAbs(TensorCheck.ToDoubles(plainGrad));
        output.WriteLine($"{compute}, chunk {chunk}: loss {plain.item<float>():R} vs {chunked.item<float>():R}; max grad diff {gradErr:E2} of {scale:E2}");
        Assert.True(lossErr <= 4e-6 * Math.Abs(plain.item<float>()), $"loss {plain.item<float>()} vs {chunked.item<float>()}");
        // fp32: rounding of the softmax only. bf16: dz is rounded to bf16 before dz·W on both paths, from fp32 values that
        // can differ in their last bit, so an element may differ by one bf16 step (2^-8 relative).
        double tolerance = compute == "fp32" ? 1e-6 : 8e-3;
        Assert.True(gradErr <= tolerance * scale, $"input gradient differs by {gradErr:E2} (max {scale:E2})");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1024)]
    public void TrainableHeadWeightGetsThePlainGradient(int chunk)
    {
        using var scope = NewDisposeScope();
        var (f, w, labels) = Make(ScalarType.Float32, weightGrad: true);
        var plain = CausalLmLoss.Compute(nn.functional.linear(f, w), labels);
        plain.backward();
        var (plainF, plainW) = (f.grad!.clone(), w.grad!.clone());
        f.grad!.zero_();
        w.grad!.zero_();
        var chunked = LmHeadLoss.Compute(f, w, ScalarType.Float32, labels, chunk);
        chunked.backward();

        Assert.Equal(plain.item<float>(), chunked.item<float>(), 5);
        foreach (var (what, expected, actual) in new[] { ("f", plainF, f.grad!), ("W", plainW, w.grad!) })
        {
            double err = TensorCheck.MaxAbsDiff(TensorCheck.ToDoubles(expected), TensorCheck.ToDoubles(actual));
            double scale = TensorCheck.MaxAbs(TensorCheck.ToDoubles(expected));
            output.WriteLine($"chunk {chunk}: ∂/∂{what} max diff {err:E2} of {scale:E2}");
            Assert.True(scale > 0 && err <= 1e-6 * scale, $"∂loss/∂{what} differs by {err:E2} (max {scale:E2})");
        }
    }

    [Fact]
    public void GradientsMatchFiniteDifferencesInFloat64()
    {
        using var scope = NewDisposeScope();
        var (f, w, labels) = Make(ScalarType.Float64, weightGrad: true);
        double Loss() { using (no_grad()) using (var l = LmHeadLoss.Compute(f, w, ScalarType.Float64, labels, 5)) return l.item<double>(); }
        using (var loss = LmHeadLoss.Compute(f, w, ScalarType.Float64, labels, 5)) loss.backward();

        // Elements of f at kept positions, one at a position whose target is ignored (gradient exactly 0), and of W.
        foreach (var (what, t, index) in new[] { ("f", f, 1 * E + 3), ("f", f, (T + 4) * E + 7), ("f", f, 2 * E + 5), ("W", w, 17 * E + 2), ("W", w, 4 * E + 11) })
        {
            double analytic = TensorCheck.ToDoubles(t.grad!)[index];
            const double h = 1e-6;
            using var flat = t.detach().view(-1);
            double old = flat[index].item<double>();
            using (no_grad()) flat[index] = tensor(old + h);
            double up = Loss();
            using (no_grad()) flat[index] = tensor(old - h);
            double down = Loss();
            using (no_grad()) flat[index] = tensor(old);
            double fd = (up - down) / (2 * h);
            output.WriteLine($"{what}[{index}]: autograd {analytic:E8}, finite difference {fd:E8}");
            Assert.True(Math.Abs(fd - analytic) <= 1e-7 + 1e-6 * Math.Abs(analytic), $"{what}[{index}]: {analytic:E8} vs {fd:E8}");
        }
        Assert.Equal(0.0, TensorCheck.ToDoubles(f.grad!)[2 * E + 5]);   // position 2 of row 0 predicts an ignored label
    }

    [Fact]
    public void AllIgnoredGivesNaNAndBadShapesAreNamed()
    {
        using var scope = NewDisposeScope();
        var (f, w, _) = Make(ScalarType.Float32);
        var loss = LmHeadLoss.Compute(f, w, ScalarType.Float32, full(B, T, CausalLmLoss.IgnoreIndex, dtype: ScalarType.Int64));
        Assert.True(float.IsNaN(loss.item<float>()));
        var e = Assert.Throws<ArgumentException>(() => LmHeadLoss.Compute(f, w, ScalarType.Float32, zeros(B, T + 1, dtype: ScalarType.Int64)));
        Assert.Contains("labels [B, T]", e.Message);
        e = Assert.Throws<ArgumentException>(() => LmHeadLoss.Compute(f, w.t(), ScalarType.Float32, zeros(B, T, dtype: ScalarType.Int64)));
        Assert.Contains("head weight", e.Message);
    }
}
