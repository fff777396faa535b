using QstOrleans.Configuration;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Evaluation;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;

namespace QstOrleans.Tests.Cli;

/// <summary>
/// The engine's single-process recipe on its own (no CLI): what <see cref="LocalRecipe.Setup"/> prepares, what
/// <see cref="LocalRecipe.Train"/> yields, and how <see cref="ModelBuildOptions.From"/> reads a config.
/// </summary>
public sealed class LocalRecipeTests
{
    [Fact]
    public void ModelBuildOptionsReadEveryKnobFromTheConfig()
    {
        var d = TrainingConfig.Defaults;
        var c = d with
        {
            Method = new MethodSection { Name = "lora", LoraRank = 4, LoraAlpha = 8 },
            Precision = new PrecisionSection { Dtype = "fp32", BackboneFormat = "bf16", DoubleQuant = false },
            Schedule = d.Schedule with { Seed = 7 },
            Qst = d.Qst with { R = 8 },
        };
        var o = ModelBuildOptions.From(c);
        Assert.Equal(TrainingMethod.Lora, o.Method);
        Assert.Equal((4, 8.0, 7L), (o.LoraRank, o.LoraAlpha, o.Seed));
        Assert.Equal(Precision.Float32, o.Precision);
        Assert.Equal(WeightFormat.BFloat16, o.BackboneFormat);
        Assert.False(o.DoubleQuant);
        Assert.Equal(8, o.Qst.R);
        Assert.Null(o.Device);
        var e = Assert.Throws<ArgumentException>(() => ModelBuildOptions.From(c with { Precision = c.Precision with { BackboneFormat = "int8" } }));
        Assert.Contains("precision.backbone_format", e.Message);
    }

    [Fact]
    public void SetupSplitsTheValidationSetAndTrainEvaluatesAfterTheLastStep()
    {
        using var tiny = new TinyModelFixture();
        var d = TrainingConfig.Defaults;
        var config = d with
        {
            Schedule = d.Schedule with { MaxSteps = 2, MicroBatchSize = 4, Seed = 3 },
            Optimizer = d.Optimizer with { LearningRate = 1e-2 },
            Precision = d.Precision with { Dtype = "fp32" },
            Evaluation = d.Evaluation with { ValFraction = 0.25 },
        };
        using var recipe = LocalRecipe.Setup(config, tiny.ModelDirectory, tiny.DataFile);

        // 256 examples: floor(256 · 0.25) = 64 held out, evenly spread, the rest trains.
        Assert.Equal(64, recipe.Evaluation.ValidationExamples!.Count);
        Assert.Equal(192, recipe.Plan.Batches.ExampleCount);
        Assert.Equal(16, recipe.Evaluation.Validation!.Count);                   // 64 examples / micro-batch 4
        Assert.Null(recipe.Evaluation.MultipleChoice);
        Assert.Equal(2, recipe.Plan.TotalSteps);
        Assert.Equal(TrainingMethod.Qst, recipe.Model.Method);
        Assert.Equal(WeightFormat.Nf4, recipe.Build.BackboneFormat);

        var reports = recipe.Train().ToList();
        Assert.Equal([1, 2], reports.Select(r => r.Step));
        // Without evaluation.every_steps only the last step is evaluated, on the weights it leaves.
        Assert.Null(reports[0].Evaluation);
        var evaluated = reports[1].Evaluation!;
        var again = ValidationEvaluator.Evaluate(recipe.Model, recipe.Evaluation.Validation);
        Assert.Equal(again.Loss, evaluated.ValidationLoss!.Value, 10);
        Assert.Equal(Math.Exp(again.Loss), evaluated.ValidationPerplexity!.Value, 6);
        Assert.Null(evaluated.MultipleChoiceAccuracy);
    }

    [Fact]
    public void EvalEveryWithoutASetFailsBeforeTheModelLoads()
    {
        var d = TrainingConfig.Defaults;
        var config = d with { Evaluation = d.Evaluation with { EverySteps = 5 } };
        using var tiny = new TinyModelFixture();
        var e = Assert.Throws<ArgumentException>(() => LocalRecipe.Setup(config, tiny.ModelDirectory, tiny.DataFile));
        Assert.Contains("--eval-every needs something to evaluate", e.Message);
    }
}
