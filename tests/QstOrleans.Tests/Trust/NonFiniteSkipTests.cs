using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// <c>optimizer.non_finite = skip</c>: a step whose loss or gradient norm is not finite applies no update (weights and AdamW
/// moments untouched), is reported as skipped, still counts as a step (the lr schedule advances), and training goes on.
/// The next step is checked against AdamW's first-step formula written out by hand.
/// </summary>
public sealed class NonFiniteSkipTests
{
    static OptimizerConfig Skip => new() { SkipNonFinite = true, MaxGradNorm = 0, LearningRate = 1e-3, Schedule = LrScheduleKind.Linear };

    [Fact]
    public void ANaNLossWindowIsSkippedAndTheNextStepIsAFirstAdamWStepAtTheAdvancedLr()
    {
        using var p = new Parameter(ones(3));
        using var stepper = new OptimizerStepper([p], Skip, accumulation: 2, totalSteps: 10);
        var step = new TrainingStep(stepper);
        using var nan = tensor(float.NaN);
        using (var bad = (p * nan).sum()) Assert.True(float.IsNaN(step.Accumulate(bad)));
        using (var good = (p * p).sum()) step.Accumulate(good);   // the rest of the window is still consumed
        var skipped = step.ApplyIfDue();
        Assert.NotNull(skipped);
        Assert.True(skipped.Skipped);
        Assert.Equal(1, skipped.Step);
        Assert.Equal(1e-3, skipped.LearningRate, 15);
        Assert.Equal([1f, 1f, 1f], p.detach().data<float>().ToArray());   // untouched
        Assert.All(stepper.States, s => Assert.Equal(0L, s.Step));        // AdamW state untouched

        using (var a = (p * p).sum()) step.Accumulate(a);
        using (var b = (p * p).sum()) step.Accumulate(b);
        var applied = step.ApplyIfDue();
        Assert.NotNull(applied);
        Assert.False(applied.Skipped);
        Assert.Equal(2, applied.Step);
        // Linear schedule over 10 steps: the skipped step used lr(0); this one lr(1) = 0.9 · 1e-3.
        double lr = 1e-3 * 0.9;
        Assert.Equal(lr, applied.LearningRate, 15);
        // AdamW's first step (bias-corrected, no decay, no clipping): p -= lr · ĝ / (|ĝ| + eps), ĝ = mean of the window's
        // gradients of p² = 2p = 2.
        float expected = (float)(1.0 - lr * 2.0 / (2.0 + 1e-8));
        Assert.All(p.detach().data<float>().ToArray(), v => Assert.Equal(expected, v, 6e-8f));
    }

    [Fact]
    public void AnInfiniteGradientWithAFiniteLossIsSkipped()
    {
        using var p = new Parameter(zeros(3));
        using var stepper = new OptimizerStepper([p], Skip, accumulation: 1, totalSteps: 10);
        var step = new TrainingStep(stepper);
        using var loss = p.sqrt().sum();   // value 0, gradient 1 / (2·sqrt(0)) = +inf
        Assert.Equal(0f, step.Accumulate(loss));
        var result = step.ApplyIfDue();
        Assert.NotNull(result);
        Assert.True(result.Skipped);
        Assert.True(double.IsPositiveInfinity(result.GradNorm));
        Assert.True(float.IsNaN(result.ClipCoefficient));   // what tells lean-taps stages to skip the step too
        Assert.Equal([0f, 0f, 0f], p.detach().data<float>().ToArray());
        Assert.True(p.grad is null || p.grad.abs().sum().item<float>() == 0);   // the window's gradients are dropped
    }

    [Fact]
    public void TheDefaultStillFails()
    {
        Assert.False(new OptimizerConfig().SkipNonFinite);
        var bad = QstOrleans.Configuration.TrainingConfig.Defaults;
        bad.Optimizer.NonFinite = "ignore";
        var e = Assert.ThrowsAny<ArgumentException>(() => QstOrleans.Configuration.TrainingConfigValidation.Check(bad));
        Assert.Contains("optimizer.non_finite", e.Message);
    }
}
