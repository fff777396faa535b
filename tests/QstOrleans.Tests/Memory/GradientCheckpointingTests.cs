using QstOrleans.Model.Baselines;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Quantization;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Engine;
using QstOrleans.Tests.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Memory;

/// <summary>
/// Gradient checkpointing (<see cref="LayerCheckpoint"/>) and QLoRA's re-dequantizing backward
/// (<see cref="Nf4Linear.KeepDequantizedForBackward"/> = false) change what is kept for backward, never the numbers:
/// the loss and every trainable parameter's gradient equal the plain path's bit for bit in fp32 (and in bf16, where the
/// recompute runs the same bf16 kernels on the same input).
/// </summary>
public sealed class GradientCheckpointingTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(TrainingMethod.Lora, "fp32")]
    [InlineData(TrainingMethod.QLora, "fp32")]
    [InlineData(TrainingMethod.Full, "fp32")]
    [InlineData(TrainingMethod.Lora, "bf16")]
    [InlineData(TrainingMethod.QLora, "bf16")]
    public void RecomputedLayersGiveTheSameGradientsBitwise(TrainingMethod method, string compute)
    {
        var plain = Gradients(new ModelBuildOptions(method, Precision: Precision.Parse(compute), Seed: 5, GradientCheckpointing: false));
        var recomputed = Gradients(new ModelBuildOptions(method, Precision: Precision.Parse(compute), Seed: 5, GradientCheckpointing: true));
        AssertSame(plain, recomputed, $"{method} {compute} checkpointed");
    }

    [Theory]
    [InlineData("fp32", false)]
    [InlineData("bf16", false)]
    [InlineData("bf16", true)]
    public void QloraRedequantizingBackwardGivesTheSameGradientsBitwise(string compute, bool checkpointing)
    {
        var keep = Gradients(new ModelBuildOptions(TrainingMethod.QLora, Precision: Precision.Parse(compute), Seed: 5,
            GradientCheckpointing: checkpointing) { KeepDequantizedForBackward = true });
        var again = Gradients(new ModelBuildOptions(TrainingMethod.QLora, Precision: Precision.Parse(compute), Seed: 5,
            GradientCheckpointing: checkpointing) { KeepDequantizedForBackward = false });
        AssertSame(keep, again, $"QLoRA {compute} re-dequantized");
    }

    [Fact]
    public void Nf4LinearInputGradientIsTheSameWhetherTheWeightIsKeptOrDecodedAgain()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(8);
        using var q = new Nf4Linear(Nf4Quantizer.Quantize(randn([48, 128], generator: g).to(ScalarType.BFloat16)), randn([48], generator: g));
        var x = randn([2, 5, 128], generator: g).to(ScalarType.BFloat16);
        var r = randn([2, 5, 48], generator: g).to(ScalarType.BFloat16);
        Tensor Grad(bool keep)
        {
            q.KeepDequantizedForBackward = keep;
            var input = x.detach().requires_grad_(true);
            var y = q.forward(input);                                                   // [2, 5, 48]
            Assert.True(y.requires_grad);
            y.mul(r).sum().backward();
            return input.grad!.to(ScalarType.Float32);
        }
        var kept = Grad(true);
        var decoded = Grad(false);
        TensorCheck.AssertBitwiseEqual(kept, decoded, "dL/dx");
        // And against the math: dL/dx = r · W with W decoded independently.
        using var w = tensor(Nf4Reference.DecodeF32(q.Weight)).reshape(48, 128);
        var expected = r.to(ScalarType.Float32).matmul(w);
        double err = TensorCheck.MaxAbsDiff(TensorCheck.ToDoubles(expected), TensorCheck.ToDoubles(decoded));
        Assert.True(err <= 0.02 * TensorCheck.MaxAbs(TensorCheck.ToDoubles(expected)), $"dL/dx off by {err}");
    }

    /// <summary>Loss and gradients of two micro-batches accumulated (the second backward adds to the first's .grad).</summary>
    Dictionary<string, Tensor> Gradients(ModelBuildOptions options)
    {
        using var model = (BaselineModel)ModelBuilder.Build(TinyLlama.TrainingDirectory, TinyLlama.Config, options);
        // LoRA's B starts at zero, which would make every lora_A gradient zero: give B seeded values.
        using (no_grad())
        {
            using var g = new Generator(11);
            foreach (var (name, p) in model.Backbone.named_parameters())
                if (name.EndsWith("lora_B.weight", StringComparison.Ordinal)) p.copy_(randn(p.shape, generator: g) * 0.05);
        }
        var result = new Dictionary<string, Tensor>();
        var named = model.Backbone.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        Assert.NotEmpty(named);
        for (int micro = 0; micro < 2; micro++)
        {
            using var scope = NewDisposeScope();
            var ids = tensor(TinyLlama.Tokens(3 * 11, seed: 40 + micro), [3, 11]);   // [B, T]
            var mask = ones(3, 11, dtype: ScalarType.Int64);
            mask[2, 9] = tensor(0L);                                                   // right padding on one row
            mask[2, 10] = tensor(0L);
            var labels = ids.clone();
            labels[0, 4] = tensor(CausalLmLoss.IgnoreIndex);
            using var context = AttentionContext.Create(mask);
            var loss = model.Loss(ids, context, labels);
            loss.backward();
            result[$"loss{micro}"] = loss.detach().clone().DetachFromDisposeScope();
        }
        foreach (var (name, p) in named) result[name] = p.grad!.to(ScalarType.Float32).clone().DetachFromDisposeScope();
        return result;
    }

    void AssertSame(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual, string what)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var key in expected.Keys)
        {
            Assert.True(TensorCheck.MaxAbs(TensorCheck.ToDoubles(expected[key])) > 0, $"{what}: {key} is all zero");
            TensorCheck.AssertBitwiseEqual(expected[key], actual[key], $"{what}: {key}");
        }
        output.WriteLine($"{what}: loss {expected["loss0"].item<float>():R}, {expected.Count - 2} gradients bitwise equal");
        foreach (var t in expected.Values.Concat(actual.Values)) t.Dispose();
    }
}
