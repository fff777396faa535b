using System.CommandLine;
using System.Text.Json.Nodes;
using QstOrleans.Cli.Train;
using QstOrleans.Configuration;
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
    public void NoCommandLineOptionCarriesADefaultOfItsOwn()
    {
        // A file setting every key that has an option to a non-default value, then no option typed: if any option had
        // a default of its own, it would override the file with it.
        var strings = new Dictionary<string, string>
        {
            ["method.name"] = "lora", ["data.format"] = "chat", ["optimizer.lr_schedule"] = "cosine", ["precision.dtype"] = "fp32",
            ["precision.backbone_format"] = "bf16", ["precision.attention"] = "fused", ["runtime.device"] = "cuda:1", ["pipeline.taps"] = "full",
            ["data.chat_template"] = "alpaca",
            ["optimizer.non_finite"] = "skip",
        };
        var file = new JsonObject();
        foreach (var entry in TrainingConfigKeys.All)
        {
            var type = TrainingConfigKeys.TypeOf(entry.Key);
            var value = TrainingConfigFile.Value(TrainingConfig.Defaults, entry.Key)!;
            JsonNode changed = type == typeof(bool) ? JsonValue.Create(!value.GetValue<bool>())
                : type == typeof(string) ? JsonValue.Create(strings[entry.Key])
                : type == typeof(double) ? JsonValue.Create(value.GetValue<double>() + 0.25)
                : JsonValue.Create(value.GetValue<long>() + 1);
            var parts = entry.Key.Split('.');
            if (file[parts[0]] is not JsonObject section) file[parts[0]] = section = new JsonObject();
            section[parts[1]] = changed;
        }
        using var dir = new TestDirectory();
        string path = dir.Write("all.json", file.ToJsonString());
        var fromFile = TrainingConfigFile.Load(path);
        // TrainingOptions is what both `train` and `train-local` build their training options from.
        var options = new TrainingOptions("", _ => true);
        var command = new Command("x");
        options.AddTo(command);
        var resolved = options.Resolve(command.Parse(["--config", path]));
        Assert.Equal(fromFile, resolved);
        foreach (var entry in TrainingConfigKeys.All)
            Assert.NotEqual(TrainingConfigFile.Value(TrainingConfig.Defaults, entry.Key)!.ToJsonString(), TrainingConfigFile.Value(resolved, entry.Key)!.ToJsonString());
        Assert.Equal(new TrainLocalSettings().Config, options.Resolve(command.Parse([])));
    }

    [Fact]
    public void TheEngineRecordsHaveTheConfigsDefaults()
    {
        var d = TrainingConfig.Defaults;
        Assert.Equal(new OptimizerConfig(), OptimizerConfig.From(d.Optimizer));
        Assert.Equal(new TrainerConfig(), TrainerConfig.From(d));
        Assert.Equal(new QstConfig(), QstConfig.From(d.Qst));
        Assert.Equal(new QstSpec().R, d.Qst.R);
        Assert.Equal(new ModelBuildOptions(), ModelBuildOptions.From(d));
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
        Assert.Equal(0, d.Qst.SideHeads);                                               // 0 = the backbone's head count
        Assert.Equal(4, d.Pipeline.Window);
        Assert.Equal(100, d.Checkpoint.EverySteps);
    }
}
