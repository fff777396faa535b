using System.CommandLine;
using System.Text.Json;
using QstOrleans.Cli.Train;
using QstOrleans.Configuration;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Qst;

namespace QstOrleans.Tests.SideAttention;

/// <summary>
/// <c>qst.side_scores_bf16</c> as a config key: read from a config file and from <c>--side-scores-bf16</c> by both training
/// commands (they share <see cref="TrainingOptions"/>), refused naming the key when it is not a boolean, carried into the
/// engine's <see cref="QstConfig"/> and into side_config.json both ways.
/// </summary>
public sealed class Bf16ScoresConfigTests
{
    [Fact]
    public void TheKeyDefaultsToTrueAndAFileCanTurnItOff()
    {
        Assert.True(TrainingConfig.Defaults.Qst.SideScoresBf16);
        Assert.True(QstConfig.From(TrainingConfig.Defaults.Qst).SideScoresBf16);
        var off = TrainingConfigFile.Parse("""{ "qst": { "side_scores_bf16": false } }""", "cfg.json");
        Assert.False(off.Qst.SideScoresBf16);
        Assert.False(QstConfig.From(off.Qst).SideScoresBf16);
        Assert.Equal(TrainingConfig.Defaults.Qst with { SideScoresBf16 = false }, off.Qst);   // nothing else moved
        // train-local's settings carry it through their qst section both ways.
        var local = new TrainLocalSettings { Qst = QstConfig.From(off.Qst) };
        Assert.False(local.Config.Qst.SideScoresBf16);
    }

    [Theory]
    [InlineData("\"yes\"")]
    [InlineData("1")]
    [InlineData("null")]
    public void ANonBooleanIsRefusedNamingTheFileAndTheKey(string value)
    {
        var e = Assert.Throws<ArgumentException>(() => TrainingConfigFile.Parse($$"""{ "qst": { "side_scores_bf16": {{value}} } }""", "cfg.json"));
        Assert.Contains("cfg.json", e.Message);
        Assert.Contains("qst.side_scores_bf16", e.Message);
    }

    [Fact]
    public void TheOptionOverridesTheFileAndAbsentKeepsIt()
    {
        Assert.Equal("--side-scores-bf16", TrainingConfigKeys.Option("qst.side_scores_bf16"));
        Assert.Equal(typeof(bool), TrainingConfigKeys.TypeOf("qst.side_scores_bf16"));
        var options = new TrainingOptions("", _ => true);
        var command = new Command("x");
        options.AddTo(command);
        Assert.False(options.Resolve(command.Parse(["--side-scores-bf16", "false"])).Qst.SideScoresBf16);
        Assert.True(options.Resolve(command.Parse([])).Qst.SideScoresBf16);
        using var dir = new TestDirectory();
        string path = dir.Write("off.json", """{ "qst": { "side_scores_bf16": false } }""");
        Assert.False(options.Resolve(command.Parse(["--config", path])).Qst.SideScoresBf16);
        Assert.True(options.Resolve(command.Parse(["--config", path, "--side-scores-bf16", "true"])).Qst.SideScoresBf16);
    }

    [Fact]
    public void SideConfigJsonSaysWhichPathTrainedIt()
    {
        foreach (bool on in new[] { true, false })
        {
            string json = JsonSerializer.Serialize(new QstConfig { SideScoresBf16 = on }, SideNetworkManifest.Json);
            Assert.Contains($"\"side_scores_bf16\": {(on ? "true" : "false")}", json);
            Assert.Equal(on, JsonSerializer.Deserialize<QstConfig>(json, SideNetworkManifest.Json)!.SideScoresBf16);
        }
        // A file written before the key: the default.
        Assert.True(JsonSerializer.Deserialize<QstConfig>("""{ "r": 16 }""", SideNetworkManifest.Json)!.SideScoresBf16);
    }
}
