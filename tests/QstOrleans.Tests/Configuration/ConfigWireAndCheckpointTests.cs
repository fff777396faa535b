using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using QstOrleans.Cli.Train;
using QstOrleans.Configuration;
using QstOrleans.Grains.Side;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Tests.Cli;

namespace QstOrleans.Tests.Configuration;

/// <summary>
/// The config crosses the grain edge intact (Orleans' own serializer, codecs generated in QstOrleans.Contracts) and is
/// stored with every side-trainer checkpoint and every train-local run folder.
/// </summary>
public sealed class ConfigWireAndCheckpointTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    static JobSpec NonDefaultSpec(string model, string data)
    {
        var spec = new JobSpec { ModelDirectory = model, DataFile = data, MaxSteps = 3, MicroBatchSize = 4, LearningRate = 2e-2, Seed = 7, Stages = 2 };
        return spec with
        {
            Config = spec.Config with
            {
                Qst = new QstSection { TrainMergeGate = true, GateInit = 0.25f },
                Data = new DataSection { Format = "alpaca", GroupByLength = true, MaxSourceTokens = 100 },
                Checkpoint = new CheckpointSection { EverySteps = 1, EveryMinutes = 0.5 },
            },
        };
    }

    [Fact]
    public void AJobSpecWithANonDefaultConfigRoundTripsThroughTheOrleansSerializer()
    {
        using var services = new ServiceCollection()
            .AddSerializer(b => b.AddAssembly(typeof(JobSpec).Assembly))
            .BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var spec = NonDefaultSpec("/models/m", "/data/d.jsonl");
        Assert.NotEqual(TrainingConfig.Defaults, spec.Config);

        var copy = serializer.Deserialize<JobSpec>(serializer.SerializeToArray(spec));
        Assert.Equal(spec, copy);
        Assert.Equal(spec.Config.ToJson(), copy.Config.ToJson());
        Assert.Equal(0.25f, copy.Config.Qst.GateInit);
        Assert.Equal(2e-2, copy.LearningRate);
    }

    [Fact]
    public void ASideTrainerCheckpointStoresTheJobsConfig()
    {
        using var dir = new TestDirectory();
        var spec = NonDefaultSpec(tiny.ModelDirectory, tiny.DataFile);
        int taps = ModelConfig.Load(tiny.ModelDirectory).NumLayers + 1;
        using var core = new SideTrainerCore(new SideSpec("config-in-checkpoint", spec, TotalSteps: 3, TapCount: taps, MicroBatchesPerEpoch: 8));
        core.SaveCheckpoint(dir["ckpt"]);
        Assert.True(File.Exists(Path.Combine(dir["ckpt"], TrainingCheckpoint.ConfigFile)));
        Assert.Equal(spec.Config, TrainingCheckpoint.ReadConfig(dir["ckpt"]));
    }

    [Fact]
    public void ATrainLocalRunFolderStoresItsConfig()
    {
        using var dir = new TestDirectory();
        var settings = new TrainLocalSettings
        {
            Model = tiny.ModelDirectory, Data = tiny.DataFile, Output = dir["run"],
            Config = TrainingConfig.Defaults with
            {
                Schedule = new ScheduleSection { MaxSteps = 1, MicroBatchSize = 4, Seed = 2 },
                Optimizer = new OptimizerSection { LearningRate = 1e-2 },
            },
        };
        _ = TrainLocalCommand.Run(settings).ToList();
        var stored = TrainingConfigFile.Parse(File.ReadAllText(Path.Combine(dir["run"], RunFolder.ConfigFile)), "run folder");
        Assert.Equal(settings.Config, stored);
    }
}
