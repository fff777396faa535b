using System.Globalization;
using System.Text.RegularExpressions;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Storage.Blobs;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// The embedded default survives a crash: <c>qst train --local</c> (its own process) is killed with SIGKILL after its
/// first checkpoint; the same command started again resumes the job from its latest checkpoint and finishes it. The
/// printed losses of every step, and the weights of the newest checkpoint, equal the uninterrupted single-process run.
/// </summary>
public sealed partial class LocalResumeTests(ITestOutputHelper log) : IDisposable
{
    // Long enough that the kill lands mid-run on an idle box: the first checkpoint's `latest` pointer becomes visible only
    // after its fsync'ed upload, which took as long as 10 more steps of the tiny model when the box was quiet.
    const int Steps = 36, Records = 192, TrainSeed = 6;
    readonly TestDirectory _dir = new();

    [GeneratedRegex(@"step\s+(\d+)/\d+\s+epoch \d+\s+loss (\d+\.\d+)")]
    private static partial Regex StepLine();

    [Fact]
    public async Task KilledLocalRunResumesFromItsCheckpointWithTheSameCommand()
    {
        string model = _dir.File("tiny"), data = _dir.File("data.jsonl"), state = _dir.File("state");
        MakeModelCommand.Run("tiny", model, seed: 6);
        SyntheticDatasets.WriteAlpacaJsonl(data, Records, seed: 6);   // 48 micro-batches of 4: one epoch covers the steps
        string[] command =
        [
            RepoPaths.QstDll, .. SoloRun.TrainArgs(model, data, TrainSeed, Steps, stages: 2), "--local", "--state-dir", state, "--checkpoint-every", "2",
        ];
        var checkpoints = new LocalDirectoryBlobStore(Path.Combine(state, "checkpoints"));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        using (var first = new ChildProcess("qst train --local (1)", "dotnet", command, _dir.Path))
        {
            // The first committed checkpoint: a 'latest' pointer under checkpoints/jobs/<job>/.
            while (!(await checkpoints.ListAsync("jobs/")).Any(b => b.Name.EndsWith("/" + CheckpointStore.PointerName, StringComparison.Ordinal)))
            {
                Assert.False(first.HasExited, $"qst train --local ended before its first checkpoint:\n{first.Output}");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"no checkpoint after 120 s:\n{first.Output}");
                await Task.Delay(20);
            }
            first.KillHard();
            log.WriteLine($"killed after {clock.Elapsed.TotalSeconds:F1} s:\n{first.Output}");
            Assert.DoesNotContain("completed", first.Output);
        }

        using var second = new ChildProcess("qst train --local (2)", "dotnet", command, _dir.Path);
        int code = await second.WaitForExit(TimeSpan.FromSeconds(150));
        log.WriteLine(second.Output);
        Assert.True(code == 0, $"the same command again exited with {code}:\n{second.Output}");
        var resumed = Regex.Match(second.Output, @"resuming job (\S+) from step (\d+)");
        Assert.True(resumed.Success, $"the second run did not resume:\n{second.Output}");
        int from = int.Parse(resumed.Groups[2].Value, CultureInfo.InvariantCulture);
        Assert.InRange(from, 2, Steps - 1);
        Assert.Contains($"completed: step {Steps}/{Steps}", second.Output);

        // Independent reference: the single-process trainer, uninterrupted.
        var (losses, _) = SoloRun.Train(model, data, TrainSeed, Steps, _dir.File("solo"));
        // A step may be printed more than once (a new snapshot after the resume repeats the current step); every print of
        // a step must show the same loss.
        var printed = StepLine().Matches(second.Output)
            .GroupBy(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m => m.Groups[2].Value)
            .ToDictionary(g => g.Key, g => Assert.Single(g.Distinct()));
        for (int step = from + 1; step <= Steps; step++)
            Assert.Equal(losses[step - 1].ToString("F4", CultureInfo.InvariantCulture), printed[step]);

        // The newest checkpoint holds the weights of its step bitwise (constant LR: a shorter solo run is a prefix).
        string job = resumed.Groups[1].Value;
        var store = new CheckpointStore(checkpoints, QstOrleans.Grains.Hosting.CheckpointStores.Prefix(job));
        var loaded = await store.LoadLatestValidAsync(_dir.File("restored"));
        Assert.NotNull(loaded);
        Assert.True(loaded.Step > from, $"no checkpoint after the resume (newest {loaded.Step}, resumed from {from})");
        var (_, expected) = SoloRun.Train(model, data, TrainSeed, (int)loaded.Step, _dir.File($"solo-{loaded.Step}"));
        using var saved = SafeTensorsFile.Open(loaded.PathOf(TrainingCheckpoint.WeightsFile));
        foreach (var (name, bytes) in expected)
            Assert.True(bytes.AsSpan().SequenceEqual(saved.ReadBytes(name)), $"checkpoint {loaded.Step}: weight '{name}' differs from the uninterrupted run");
        log.WriteLine($"resumed from step {from}; newest checkpoint {loaded.Step}; {clock.Elapsed.TotalSeconds:F1} s in all");
    }

    public void Dispose() => _dir.Dispose();
}
