using QstOrleans.Cli.ModelTools;
using QstOrleans.Cli.Train;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Cli;

/// <summary>
/// <c>qst train --local --out DIR</c> saves the job's result (downloaded through the in-process cluster) bitwise equal to
/// <c>train-local --out</c>'s export of the same settings; <c>qst export</c> names the path it cannot use and says what
/// each kind of folder holds.
/// </summary>
public sealed class ResultCommandTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public async Task TrainOutDownloadsTheSideNetworkTrainLocalWouldExport()
    {
        const int steps = 3;
        string outDir = tiny.Scratch($"train-out-{Guid.NewGuid():N}");
        string[] args = [.. SoloRun.TrainArgs(tiny.ModelDirectory, tiny.DataFile, seed: 2, steps, stages: 1)[1..],
            "--local", "--state-dir", tiny.Scratch($"state-{Guid.NewGuid():N}"), "--out", outDir];
        int code = await TrainCommand.Create().Parse(args).InvokeAsync();
        Assert.Equal(0, code);

        string solo = tiny.Scratch($"solo-{Guid.NewGuid():N}");
        var (losses, _) = SoloRun.Train(tiny.ModelDirectory, tiny.DataFile, seed: 2, steps, solo);
        Assert.Equal(steps, losses.Count);
        foreach (var name in new[] { SideNetworkExport.WeightsFile, SideNetworkExport.ConfigFile })
            Assert.True(File.ReadAllBytes(Path.Combine(solo, name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(outDir, name))),
                $"{name} of `qst train --out` differs from train-local's");
        Assert.Empty(Directory.EnumerateFiles(outDir, ".*"));   // no partial files left behind
    }

    [Fact]
    public void ExportRefusesAFolderThatIsNeitherARunNorACheckpointNamingIt()
    {
        string folder = tiny.Scratch($"not-a-run-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "nothing to export");
        var e = Assert.Throws<ArgumentException>(() => ExportCommand.Run(folder, null, null, tiny.Scratch("never")));
        Assert.Contains($"'{folder}' is neither a run folder", e.Message);
        Assert.Contains(SideNetworkExport.TrainableFile, e.Message);
        Assert.Contains("state.json", e.Message);
        Assert.Contains("--job ID", e.Message);
        Assert.False(Directory.Exists(tiny.Scratch("never")));

        string missing = tiny.Scratch("no-such-folder");
        var gone = Assert.Throws<DirectoryNotFoundException>(() => ExportCommand.Run(missing, null, null, tiny.Scratch("never")));
        Assert.Contains(missing, gone.Message);

        string file = Path.Combine(folder, "notes.txt");
        var notFolder = Assert.Throws<ArgumentException>(() => ExportCommand.Run(file, null, null, tiny.Scratch("never")));
        Assert.Contains($"'{file}' is a file", notFolder.Message);

        var both = Assert.Throws<ArgumentException>(() => ExportCommand.Run(folder, file, null, tiny.Scratch("never")));
        Assert.Contains("exactly one of", both.Message);
    }

    [Fact]
    public void ExportOfACheckpointFolderWithoutItsConfigNamesTheMissingFile()
    {
        string folder = tiny.Scratch($"bare-checkpoint-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, TrainingCheckpoint.StateFile), "{}");
        File.WriteAllBytes(Path.Combine(folder, TrainingCheckpoint.WeightsFile), []);
        var e = Assert.Throws<InvalidDataException>(() => ExportCommand.Run(folder, null, tiny.ModelDirectory, tiny.Scratch("never2")));
        Assert.Contains(Path.Combine(folder, TrainingCheckpoint.ConfigFile), e.Message);
    }
}
