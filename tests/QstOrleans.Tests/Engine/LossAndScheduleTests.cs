using QstOrleans.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>CausalLmLoss against a hand-written shifted log-softmax cross-entropy; LrSchedule against HF's formulas.</summary>
public sealed class LossAndScheduleTests
{
    [Fact]
    public void CausalLmLossIsShiftedMeanCrossEntropyIgnoringMinus100()
    {
        const int b = 2, t = 5, v = 7;
        using var scope = NewDisposeScope();
        using var g = new Generator(3);
        var logits = randn([b, t, v], generator: g) * 3;
        long[] labels = [4, 1, -100, 6, 0,
                         -100, -100, 2, 5, -100];
        var loss = CausalLmLoss.Compute(logits, tensor(labels, [b, t]));
        Assert.Equal(0, loss.dim());

        var x = TensorCheck.ToDoubles(logits);
        double sum = 0;
        int kept = 0;
        for (int r = 0; r < b; r++)
            for (int p = 0; p < t - 1; p++)
            {
                long target = labels[r * t + p + 1];   // position p predicts token p + 1
                if (target == -100) continue;
                int o = (r * t + p) * v;
                double max = x.Skip(o).Take(v).Max();
                double lse = max + Math.Log(x.Skip(o).Take(v).Sum(z => Math.Exp(z - max)));
                sum += lse - x[o + target];
                kept++;
            }
        Assert.Equal(5, kept);   // row 0: 1, -100 skipped, 6, 0; row 1: 2, 5
        Assert.Equal(sum / kept, loss.item<float>(), 5);
    }

    [Fact]
    public void AllIgnoredGivesNaN()
    {
        using var scope = NewDisposeScope();
        var loss = CausalLmLoss.Compute(zeros(1, 3, 4), full(1, 3, -100L, dtype: ScalarType.Int64));
        Assert.True(float.IsNaN(loss.item<float>()));
    }

    // base 1e-3, 10 warmup steps, 110 steps in all; expected values worked out by hand from
    // transformers' lambdas: warmup s/W; linear (T−s)/(T−W); cosine ½(1 + cos(π·(s−W)/(T−W))).
    [Theory]
    [InlineData(LrScheduleKind.Constant, 0, 1e-3)]          // HF "constant" ignores warmup
    [InlineData(LrScheduleKind.Constant, 5, 1e-3)]
    [InlineData(LrScheduleKind.Constant, 109, 1e-3)]
    [InlineData(LrScheduleKind.ConstantWithWarmup, 0, 0.0)]
    [InlineData(LrScheduleKind.ConstantWithWarmup, 5, 5e-4)]
    [InlineData(LrScheduleKind.ConstantWithWarmup, 10, 1e-3)]
    [InlineData(LrScheduleKind.ConstantWithWarmup, 100, 1e-3)]
    [InlineData(LrScheduleKind.Linear, 0, 0.0)]
    [InlineData(LrScheduleKind.Linear, 1, 1e-4)]
    [InlineData(LrScheduleKind.Linear, 10, 1e-3)]
    [InlineData(LrScheduleKind.Linear, 60, 5e-4)]
    [InlineData(LrScheduleKind.Linear, 109, 1e-5)]
    [InlineData(LrScheduleKind.Linear, 110, 0.0)]
    [InlineData(LrScheduleKind.Cosine, 3, 3e-4)]
    [InlineData(LrScheduleKind.Cosine, 10, 1e-3)]
    [InlineData(LrScheduleKind.Cosine, 35, 8.5355339059327e-4)]   // ½(1 + cos(π/4))
    [InlineData(LrScheduleKind.Cosine, 60, 5e-4)]
    [InlineData(LrScheduleKind.Cosine, 85, 1.4644660940673e-4)]   // ½(1 + cos(3π/4))
    [InlineData(LrScheduleKind.Cosine, 110, 0.0)]
    public void ScheduleMatchesHfFormulas(LrScheduleKind kind, int step, double expected)
    {
        var schedule = new LrSchedule(kind, 1e-3, WarmupSteps: 10, TotalSteps: 110);
        Assert.Equal(expected, schedule.At(step), 12);
    }

    [Fact]
    public void NoWarmupLinearStartsAtBase()
    {
        var schedule = new LrSchedule(LrScheduleKind.Linear, 2e-4, 0, 4);
        Assert.Equal(new[] { 2e-4, 1.5e-4, 1e-4, 0.5e-4 }, Enumerable.Range(0, 4).Select(s => Math.Round(schedule.At(s), 12)));
    }

    [Theory]
    [InlineData("constant", LrScheduleKind.Constant)]
    [InlineData("constant_with_warmup", LrScheduleKind.ConstantWithWarmup)]
    [InlineData("Linear", LrScheduleKind.Linear)]
    [InlineData("cosine", LrScheduleKind.Cosine)]
    public void ParsesHfNames(string name, LrScheduleKind kind) => Assert.Equal(kind, LrSchedule.ParseKind(name));

    [Fact]
    public void UnknownScheduleNameIsRejected() =>
        Assert.Contains("polynomial", Assert.Throws<ArgumentException>(() => LrSchedule.ParseKind("polynomial")).Message);
}
