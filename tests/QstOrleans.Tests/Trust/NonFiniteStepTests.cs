using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// A non-finite loss stops training before its gradients are applied; a finite loss with a non-finite gradient stops
/// it before the step is reported (so before any checkpoint of it).
/// </summary>
public sealed class NonFiniteStepTests
{
    [Fact]
    public void ANaNLossStopsBeforeTheUpdate()
    {
        using var p = new Parameter(ones(3));
        using var stepper = new OptimizerStepper([p], new OptimizerConfig(), accumulation: 1, totalSteps: 10);
        var step = new TrainingStep(stepper);
        using var nan = tensor(float.NaN);
        using var loss = (p * nan).sum();
        var e = Assert.Throws<NonFiniteTrainingException>(() => step.Accumulate(loss));
        Assert.Contains("loss is NaN at step 1", e.Message);
        Assert.Equal([1f, 1f, 1f], p.detach().data<float>().ToArray());   // untouched
        Assert.Equal(0, step.Step);
    }

    [Fact]
    public void AnInfiniteGradientStopsBeforeTheStepIsReported()
    {
        using var p = new Parameter(zeros(3));
        using var stepper = new OptimizerStepper([p], new OptimizerConfig(), accumulation: 1, totalSteps: 10);
        var step = new TrainingStep(stepper);
        using var loss = p.sqrt().sum();   // value 0, gradient 1 / (2·sqrt(0)) = +inf
        Assert.Equal(0f, step.Accumulate(loss));
        var e = Assert.Throws<NonFiniteTrainingException>(() => step.ApplyIfDue());
        Assert.Contains("gradient norm is", e.Message);
    }

    [Fact]
    public void FiniteStepsStillApply()
    {
        using var p = new Parameter(ones(3));
        using var stepper = new OptimizerStepper([p], new OptimizerConfig(), accumulation: 1, totalSteps: 10);
        var step = new TrainingStep(stepper);
        using var loss = (p * p).sum();
        Assert.Equal(3f, step.Accumulate(loss));
        var result = step.ApplyIfDue();
        Assert.NotNull(result);
        Assert.Equal(1, result.Step);
        Assert.All(p.detach().data<float>().ToArray(), v => Assert.True(v < 1f));
    }
}
