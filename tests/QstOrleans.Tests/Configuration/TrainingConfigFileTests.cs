using System.CommandLine;
using System.Text.Json.Nodes;
using QstOrleans.Cli.Train;
using QstOrleans.Configuration;

namespace QstOrleans.Tests.Configuration;

/// <summary>
/// The config file: every key optional, unknown keys and bad values refused with the file and the key named, command-line
/// options over the file over the defaults, and the printed JSON reads back to the same config.
/// </summary>
public sealed class TrainingConfigFileTests
{
    [Fact]
    public void FileValuesReplaceDefaultsAndAbsentKeysKeepThem()
    {
        using var dir = new TestDirectory();
        string file = dir.Write("run.json", """
            // comments and trailing commas are allowed
            { "optimizer": { "learning_rate": 0.05, "lr_schedule": "cosine", },
              "schedule": { "micro_batch_size": 2, "epochs": 3 },
              "qst": { "r": 8 } }
            """);
        var config = TrainingConfigFile.Load(file);
        Assert.Equal(0.05, config.Optimizer.LearningRate);
        Assert.Equal("cosine", config.Optimizer.LrSchedule);
        Assert.Equal(2, config.Schedule.MicroBatchSize);
        Assert.Equal(3, config.Schedule.Epochs);
        Assert.Equal(8, config.Qst.R);
        // Absent keys: the spec §7.1 recipe values, written out here independently of the record.
        Assert.Equal(0.3, config.Optimizer.MaxGradNorm);
        Assert.Equal(0.999, config.Optimizer.Beta2);
        Assert.Equal(16, config.Qst.AdapterBottleneck);
        Assert.Equal(1, config.Schedule.GradientAccumulation);
    }

    [Theory]
    [InlineData("""{ "optimizer": { "learnin_rate": 1e-3 } }""", "optimizer.learnin_rate")]
    [InlineData("""{ "optimiser": { "learning_rate": 1e-3 } }""", "optimiser")]
    [InlineData("""{ "qst": { "r": 16, "dropout": 0.1 } }""", "qst.dropout")]
    public void UnknownKeysAreRefusedNamingTheKeyAndTheFile(string json, string key)
    {
        using var dir = new TestDirectory();
        string file = dir.Write("bad.json", json);
        var e = Assert.Throws<ArgumentException>(() => TrainingConfigFile.Load(file));
        Assert.Contains(file, e.Message);
        Assert.Contains($"unknown key '{key}'", e.Message);
    }

    [Theory]
    [InlineData("""{ "optimizer": { "learning_rate": -1 } }""", "optimizer.learning_rate (--lr) must be > 0")]
    [InlineData("""{ "schedule": { "gradient_accumulation": 0 } }""", "schedule.gradient_accumulation (--grad-accum) must be >= 1")]
    [InlineData("""{ "optimizer": { "lr_schedule": "sawtooth" } }""", "optimizer.lr_schedule (--schedule) must be one of")]
    [InlineData("""{ "schedule": { "epochs": "three" } }""", "key 'schedule.epochs'")]
    [InlineData("""{ "pipeline": null }""", "key 'pipeline' must be an object")]
    public void BadValuesAreRefusedNamingTheKeyAndTheFile(string json, string expected)
    {
        using var dir = new TestDirectory();
        string file = dir.Write("bad.json", json);
        var e = Assert.Throws<ArgumentException>(() => TrainingConfigFile.Load(file));
        Assert.Contains(file, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void CommandLineOptionsOverrideTheFileWhichOverridesTheDefaults()
    {
        using var dir = new TestDirectory();
        string file = dir.Write("run.json", """{ "optimizer": { "learning_rate": 0.05, "max_grad_norm": 2.0 }, "schedule": { "micro_batch_size": 3 } }""");
        var options = new TrainingOptions("", _ => true);
        var command = new Command("train-local");
        options.AddTo(command);

        var fileOnly = options.Resolve(command.Parse(["--config", file]));
        Assert.Equal(0.05, fileOnly.Optimizer.LearningRate);
        Assert.Equal(3, fileOnly.Schedule.MicroBatchSize);   // an option not typed does not override the file with a default

        var both = options.Resolve(command.Parse(["--config", file, "--lr", "0.5", "--pack", "--double-quant", "false"]));
        Assert.Equal(0.5, both.Optimizer.LearningRate);      // the option wins
        Assert.Equal(2.0, both.Optimizer.MaxGradNorm);       // the file's other keys stay
        Assert.Equal(3, both.Schedule.MicroBatchSize);
        Assert.True(both.Data.Pack);
        Assert.False(both.Precision.DoubleQuant);

        var none = options.Resolve(command.Parse([]));
        Assert.Equal(TrainingConfig.Defaults, none);
    }

    [Fact]
    public void ABadOptionValueNamesTheOption()
    {
        var options = new TrainingOptions("", _ => true);
        var command = new Command("train-local");
        options.AddTo(command);
        var e = Assert.Throws<ArgumentException>(() => options.Resolve(command.Parse(["--micro-batch-size", "0"])));
        Assert.Contains("schedule.micro_batch_size (--micro-batch-size) must be >= 1", e.Message);
    }

    [Fact]
    public void ThePrintedJsonHasEveryKeyAndReadsBackToTheSameConfig()
    {
        var config = TrainingConfig.Defaults with
        {
            Optimizer = new OptimizerSection { LearningRate = 3e-3, LrSchedule = "linear", WarmupSteps = 5 },
            Qst = new QstSection { TrainMergeGate = true, R = 4 },
            Pipeline = new PipelineSection { Stages = 3 },
        };
        string json = config.ToJson();
        Assert.Equal(config, TrainingConfigFile.Parse(json, "printed"));
        var tree = JsonNode.Parse(json)!.AsObject();
        foreach (var entry in TrainingConfigKeys.All)
        {
            var parts = entry.Key.Split('.');
            Assert.True(tree[parts[0]]?.AsObject().ContainsKey(parts[1]), $"the printed config lacks '{entry.Key}'");
        }
    }
}
