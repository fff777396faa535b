using System.CommandLine;
using QstOrleans.Cli.Commands;
using QstOrleans.Configuration;
using QstOrleans.Contracts.Wire;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Training;

namespace QstOrleans.Tests.Configuration;

/// <summary>
/// Every entry point starts from the same defaults: a bare JobSpec (what `qst train` sends), bare train-local settings,
/// both commands with no options, and the engine's own records all agree, and they are the documented values.
/// </summary>
public sealed class OneDefaultPerKnobTests
{
    [Fact]
    public void JobSpecAndTrainLocalSettingsBuiltFromDefaultsAgree()
    {
        var job = new JobSpec { ModelDirectory = "m", DataFile = "d" };
        var local = new TrainLocalSettings();
        Assert.Equal(job.Config, local.Config);
        // The shorthands read the same values.
        Assert.Equal(job.LearningRate, local.Optimizer.LearningRate);
        Assert.Equal(job.MicroBatchSize, local.Trainer.MicroBatchSize);
        Assert.Equal(job.MaxGradNorm, local.Optimizer.MaxGradNorm);
        Assert.Equal(job.Qst.R, local.Qst.R);
        Assert.Equal(job.Dtype, local.Dtype);
        Assert.Equal(job.DoubleQuant, local.DoubleQuant);
        Assert.Equal(job.MaxSourceTokens, local.MaxSourceTokens);
    }

    [Fact]
    public void BothCommandsWithoutOptionsResolveToTheDefaults()
    {
        foreach (var command in new[] { TrainLocalCommand.Create(), TrainCommand.Create() })
        {
            // Neither command may give an option a default of its own: parse nothing, get the record's defaults.
            foreach (var option in command.Options)
                Assert.False(option.HasDefaultValue && IsConfigOption(option), $"{command.Name} {option.Name} declares its own default");
        }
        var options = new TrainingOptions("", _ => true);
        var c = new Command("x");
        options.AddTo(c);
        Assert.Equal(new TrainLocalSettings().Config, options.Resolve(c.Parse([])));
    }

    static bool IsConfigOption(Option option) => TrainingConfigKeys.All.Any(e => e.Option == option.Name);

    [Fact]
    public void TheEngineRecordsHaveTheConfigsDefaults()
    {
        var d = TrainingConfig.Defaults;
        Assert.Equal(new OptimizerConfig(), OptimizerConfig.From(d.Optimizer));
        Assert.Equal(new TrainerConfig(), TrainerConfig.From(d));
        Assert.Equal(new QstConfig(), QstConfig.From(d.Qst));
        Assert.Equal(new QstSpec().R, d.Qst.R);
    }

    [Fact]
    public void TheDefaultsAreTheDocumentedOnes()
    {
        // README "Training configuration": lr 1e-4 (reference QST scripts for 7B+), micro-batch 8 × 1, clip 0.3, r = 16.
        var d = TrainingConfig.Defaults;
        Assert.Equal(1e-4, d.Optimizer.LearningRate);
        Assert.Equal(8, d.Schedule.MicroBatchSize);
        Assert.Equal(1, d.Schedule.GradientAccumulation);
        Assert.Equal(0.3, d.Optimizer.MaxGradNorm);
        Assert.Equal("constant", d.Optimizer.LrSchedule);
        Assert.Equal(16, d.Qst.R);
        Assert.Equal(4, d.Pipeline.Window);
        Assert.Equal(100, d.Checkpoint.EverySteps);
    }
}
