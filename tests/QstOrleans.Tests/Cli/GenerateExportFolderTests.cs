using System.Text.Json.Nodes;
using QstOrleans.Cli.Generate;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Cli.Train;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Training;

namespace QstOrleans.Tests.Cli;

/// <summary>`qst generate --side` takes an export folder as well as trainable.safetensors, and checks its base model.</summary>
public sealed class GenerateExportFolderTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    string TrainRun()
    {
        string run = tiny.Scratch("export-run");
        if (!File.Exists(Path.Combine(run, SideNetworkExport.ConfigFile)))
            _ = TrainLocalCommand.Run(new TrainLocalSettings
            {
                Model = tiny.ModelDirectory, Data = tiny.DataFile, Method = TrainingMethod.Qst, Dtype = "fp32",
                Optimizer = new OptimizerConfig { LearningRate = 1e-2 },
                Trainer = new TrainerConfig(Epochs: 1, MaxSteps: 20, MicroBatchSize: 8, GradientAccumulation: 1, Threads: 2, Seed: 1),
                Output = run,
            }).ToList();
        return run;
    }

    [Fact]
    public void AnExportFolderGeneratesWhatTheTrainableFileGenerates()
    {
        string run = TrainRun();
        string exported = tiny.Scratch("exported");
        ExportCommand.Run(run, null, null, exported);
        GenerateSettings Settings(string side) => new()
        {
            Model = tiny.ModelDirectory, Side = side, Prompt = QstOrleans.Data.Datasets.AlpacaPrompt.Format("Reverse the word.", "cat"), MaxNewTokens = 12, Dtype = "fp32",
        };
        var fromFile = GenerateCommand.Run(Settings(Path.Combine(run, SideNetworkExport.TrainableFile)), new StringWriter());
        var status = new StringWriter();
        var fromFolder = GenerateCommand.Run(Settings(exported), new StringWriter(), status);
        var fromRun = GenerateCommand.Run(Settings(run), new StringWriter()); // the run folder holds an export too
        var plain = GenerateCommand.Run(Settings(null!) with { Side = null }, new StringWriter());

        Assert.Equal(fromFile.Tokens, fromFolder.Tokens);
        Assert.Equal(fromFile.Tokens, fromRun.Tokens);
        Assert.Contains($"QST side network exported in {exported}", status.ToString());
        // The side network changes the output (else this test could not tell a loaded side network from none).
        Assert.NotEqual(plain.Tokens, fromFile.Tokens);
    }

    [Fact]
    public void AnExportFolderOnAnotherBaseModelIsRefusedNamingBoth()
    {
        string run = TrainRun();
        // The same model with another MLP width: another shape checksum.
        string other = tiny.Scratch("other-base");
        Directory.CreateDirectory(other);
        foreach (var f in Directory.GetFiles(tiny.ModelDirectory)) File.Copy(f, Path.Combine(other, Path.GetFileName(f)), overwrite: true);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(other, "config.json")))!.AsObject();
        config["intermediate_size"] = config["intermediate_size"]!.GetValue<int>() * 2;
        File.WriteAllText(Path.Combine(other, "config.json"), config.ToJsonString());

        var e = Assert.Throws<SideNetworkMismatchException>(() => GenerateCommand.Run(new GenerateSettings
        {
            Model = other, Side = run, Prompt = "x", MaxNewTokens = 2, Dtype = "fp32",
        }, new StringWriter()));
        Assert.Contains("side_config.json", e.Message);
        Assert.Contains("intermediate_size", e.Message);
        Assert.Contains(Path.GetFileName(tiny.ModelDirectory), e.Message); // the model it was trained for

        var missing = Assert.Throws<FileNotFoundException>(() => GenerateCommand.Run(new GenerateSettings
        {
            Model = tiny.ModelDirectory, Side = tiny.Scratch("no-such-export"), Prompt = "x", MaxNewTokens = 2,
        }, new StringWriter()));
        Assert.Contains("no-such-export", missing.Message);
    }
}
