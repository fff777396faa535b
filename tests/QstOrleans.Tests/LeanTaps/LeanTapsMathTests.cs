using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Tests.LeanTaps;

/// <summary>
/// The split form of the adapters' first projection (lean taps) against the unsplit side network: the same loss and the
/// same gradient of every parameter, and ∂L/∂W_A equal to Σ_t G_tᵀ·x_t written out here with plain matmuls.
/// </summary>
public sealed class LeanTapsMathTests
{
    const int B = 2, T = 5;

    [Fact]
    public void SplitAdapterGivesTheUnsplitLossAndGradients()
    {
        using var scope = NewDisposeScope();
        using var @case = Case.Make(generatorSeed: 31, sideSeed: 4);
        var (side, taps, finalNormed, head, labels, context) = @case;
        var parameters = side.named_parameters().Where(p => p.parameter.requires_grad).ToList();

        // Unsplit: autograd through the whole adapter.
        side.zero_grad();
        double fullLoss;
        using (var f = side.Forward(taps, finalNormed, context))
        using (var loss = CausalLmLoss.Compute(head.Forward(f), labels))
        {
            fullLoss = loss.item<double>();
            loss.backward();
        }
        var fullGrads = parameters.ToDictionary(p => p.name, p => p.parameter.grad!.clone());

        // Split: the single-process lean step (projection with W_A's graph, side part over U, U.backward(G)).
        side.zero_grad();
        using var stepper = new OptimizerStepper(parameters.Select(p => p.parameter).ToList(), new OptimizerConfig(), accumulation: 1, totalSteps: 1);
        var step = new SideMicroStep(side, head, new TrainingStep(stepper));
        float leanLoss = step.AccumulateLean(taps, finalNormed, context, labels);
        Assert.Equal((float)fullLoss, leanLoss);
        foreach (var (name, p) in parameters)
        {
            var expected = fullGrads[name].to(ScalarType.Float64);   // norm weights are stored in fp32
            var actual = p.grad!.to(ScalarType.Float64);
            double scale = expected.abs().max().item<double>();
            double error = (actual - expected).abs().max().item<double>();
            Assert.True(scale > 0, $"{name}: zero gradient");
            Assert.True(error <= 1e-12 * scale, $"{name}: split gradient differs from the unsplit one by {error:E3} (scale {scale:E3})");
        }
    }

    [Fact]
    public void ProjectionGradientIsSumOfGTransposeX()
    {
        var c = TinyLlama.Config;
        using var scope = NewDisposeScope();
        using var @case = Case.Make(generatorSeed: 8, sideSeed: 2);
        var (side, taps, finalNormed, head, labels, context) = @case;
        using var stepper = new OptimizerStepper(side.parameters().Where(p => p.requires_grad).ToList(), new OptimizerConfig(), 1, 1);
        var step = new SideMicroStep(side, head, new TrainingStep(stepper));

        // The side trainer's part over U computed here with plain matmuls: U_t = x_t · W_Aᵀ.
        var projections = taps.Select((x, t) => x.matmul(side.Adapter(AdapterProjection.AdapterOfTap(t)).Projection.Weight.detach().t())).ToList();
        var (_, gradients) = step.AccumulateProjected(projections, finalNormed, context, labels);

        // ∂L/∂W_A,i = Σ over the taps t that read adapter i of G_tᵀ · x_t, over all B·T tokens.
        for (int i = 0; i < c.NumLayers; i++)
        {
            var expected = zeros([TinyLlama.Qst.AdapterBottleneck, c.HiddenSize], dtype: ScalarType.Float64);
            for (int t = 0; t < taps.Count; t++)
                if (AdapterProjection.AdapterOfTap(t) == i)
                    expected += gradients[t].reshape(-1, TinyLlama.Qst.AdapterBottleneck).t().matmul(taps[t].reshape(-1, c.HiddenSize));
            // The stage's way: the tracked projection and U.backward(G).
            var weight = side.Adapter(i).Projection;
            weight.Weight.grad?.zero_();
            for (int t = 0; t < taps.Count; t++)
            {
                if (AdapterProjection.AdapterOfTap(t) != i) continue;
                Tensor u;
                using (enable_grad()) u = AdapterProjection.Project(weight, taps[t], ScalarType.Float64);
                AdapterProjection.Backward(u, gradients[t]);
            }
            double error = (weight.Weight.grad! - expected).abs().max().item<double>();
            Assert.True(error <= 1e-12 * expected.abs().max().item<double>(), $"adapter {i}: W_A gradient off by {error:E3}");
        }
    }

    [Fact]
    public void ClippingFollowsTheWrittenOutFormula()
    {
        using var scope = NewDisposeScope();
        var a = new Parameter(tensor(new float[] { 3f, 0f }));
        var b = new Parameter(tensor(new float[] { 4f }));
        a.grad = tensor(new float[] { 3f, 0f });
        b.grad = tensor(new float[] { 4f });
        var squares = GradientClipping.SquaredNorms([a.grad, b.grad]);
        Assert.Equal([9.0, 16.0], squares);
        double norm = GradientClipping.Norm(squares);
        Assert.Equal(5.0, norm);
        float coefficient = GradientClipping.Coefficient(norm, maxNorm: 1.0);
        Assert.Equal((float)(1.0 / (5.0 + 1e-6)), coefficient);
        Assert.Equal(1f, GradientClipping.Coefficient(norm, maxNorm: 10.0));   // within the bound: untouched
        Assert.Equal(1f, GradientClipping.Coefficient(norm, maxNorm: 0));      // clipping off
        GradientClipping.Scale([a.grad, b.grad], coefficient);
        Assert.Equal(3f * coefficient, a.grad[0].item<float>());
        Assert.Equal(4f * coefficient, b.grad[0].item<float>());
    }
}

/// <summary>A float64 side network with random taps [B, T, H], ĥ, a random frozen head and labels (tensors in the caller's scope).</summary>
internal sealed record Case(QstSideNetwork Side, List<Tensor> Taps, Tensor FinalNormed, FrozenLmHead Head, Tensor Labels, AttentionContext Context)
    : IDisposable
{
    const int B = 2, T = 5;

    public static Case Make(ulong generatorSeed, long sideSeed)
    {
        var c = TinyLlama.Config;
        using var g = new Generator(generatorSeed);
        var side = new QstSideNetwork(c, TinyLlama.Qst with { Fp32MasterWeights = false }, Precision.Float64, seed: sideSeed);
        var taps = Enumerable.Range(0, c.NumLayers + 1).Select(_ => randn([B, T, c.HiddenSize], dtype: ScalarType.Float64, generator: g)).ToList();
        var finalNormed = randn([B, T, c.HiddenSize], dtype: ScalarType.Float64, generator: g);
        var head = new FrozenLmHead(randn([c.VocabSize, c.HiddenSize], dtype: ScalarType.Float64, generator: g) * 0.3, Precision.Float64);
        var labels = randint(3, c.VocabSize, [B, T], generator: g);
        return new Case(side, taps, finalNormed, head, labels, AttentionContext.Create(ones(B, T, dtype: ScalarType.Int64)));
    }

    public void Dispose()
    {
        Side.Dispose();
        Head.Dispose();
        Context.Dispose();
    }
}
