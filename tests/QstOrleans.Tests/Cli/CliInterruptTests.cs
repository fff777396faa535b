using System.Globalization;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Metrics;

namespace QstOrleans.Tests.Cli;

/// <summary>
/// Ctrl+C on the built CLI (SIGINT to the child process): <c>train-local</c> stops after the step in progress, saves its run
/// folder and exits 130; <c>train --local</c> asks the job for a checkpoint at the next step boundary (RequestCheckpoint, whatever
/// the cadence), exits 130 once it is committed, and the same command resumes from that checkpoint; a second Ctrl+C exits at once.
/// </summary>
public sealed class CliInterruptTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task TrainLocalSavesItsRunFolderAndExits130()
    {
        using var dir = new TestDirectory();
        string run = dir["run"];
        using var qst = QstProcess.Start(dir.Path, "train-local", "--model", tiny.ModelDirectory, "--data", tiny.DataFile,
            "--max-steps", "5000", "--epochs", "100", "--micro-batch-size", "4", "--threads", "1", "--out", run);
        await qst.WaitForOutput("step     2", Limit);
        qst.Interrupt();
        int code = await qst.WaitForExit(Limit);
        string output = qst.Output;
        Assert.True(code == 130, $"exit code {code}:\n{output}");
        var interrupted = output.Split('\n').Single(l => l.StartsWith("interrupted after step", StringComparison.Ordinal));
        int step = int.Parse(interrupted.Split(' ')[3], CultureInfo.InvariantCulture);
        Assert.InRange(step, 2, 4999);
        // The folder of a finished run, at the step it stopped: one metrics line per step printed, the export loadable.
        Assert.Equal(step, output.Split('\n').Count(l => l.StartsWith("step ", StringComparison.Ordinal)));
        Assert.Equal(Enumerable.Range(1, step), MetricsWriter.Read(Path.Combine(run, MetricsWriter.FileName)).Select(r => r.Step));
        using var model = SideNetworkExport.LoadModel(run, tiny.ModelDirectory);
        Assert.True(File.Exists(Path.Combine(run, SideNetworkExport.TrainableFile)));
    }

    [Fact]
    public async Task TrainLocalClusterCheckpointsOnCtrlCAndTheSameCommandResumesThere()
    {
        using var dir = new TestDirectory();
        string state = dir["state"];
        // No checkpoint is due by the cadence for 1000 steps: the one after Ctrl+C can only be the requested one.
        string[] args = ["train", "--local", "--plain", "--model", tiny.ModelDirectory, "--data", tiny.DataFile, "--state-dir", state,
            "--max-steps", "2000", "--epochs", "100", "--micro-batch-size", "4", "--checkpoint-every", "1000", "--checkpoint-minutes", "0", "--poll-ms", "50"];
        int checkpoint;
        using (var first = QstProcess.Start(dir.Path, args))
        {
            await first.WaitForOutput("step     4/", Limit);
            first.Interrupt();
            int code = await first.WaitForExit(Limit);
            Assert.True(code == 130, $"exit code {code}:\n{first.Output}{SiloLog(state)}");
            var committed = first.Output.Split('\n').Where(l => l.StartsWith("checkpoint of step ", StringComparison.Ordinal)).ToList();
            Assert.True(committed.Count == 1, $"{committed.Count} 'checkpoint of step' lines:\n{first.Output}{SiloLog(state)}");
            checkpoint = int.Parse(committed[0].Split(' ')[3], CultureInfo.InvariantCulture);
            Assert.True(checkpoint >= 4 && checkpoint < 1000, first.Output);   // the requested checkpoint, at a step boundary after the interrupt
        }
        // The job may commit one more checkpoint while the cluster shuts down: the rerun starts from that one or a later one.
        // "resuming job …" or, if the interrupted job was lost or had ended, "submitting job …": fail on that at once with
        // the silo's log (the first run's shutdown is in it), instead of waiting minutes for a line that will not come.
        using var second = QstProcess.Start(dir.Path, args);
        await second.WaitForOutput("job local-", Limit);
        var resuming = second.Output.Split('\n').SingleOrDefault(l => l.StartsWith("resuming job local-", StringComparison.Ordinal));
        Assert.True(resuming is not null && resuming.Contains("(checkpoint ", StringComparison.Ordinal),
            $"the rerun did not resume the interrupted job from a checkpoint:\n{second.Output}{SiloLog(state)}");
        int from = int.Parse(resuming.Split(' ')[5], CultureInfo.InvariantCulture);
        Assert.True(from >= checkpoint, second.Output);
    }

    /// <summary>The warnings and errors of the in-process silo's log in <paramref name="stateDirectory"/> (both runs), for a failure message.</summary>
    static string SiloLog(string stateDirectory)
    {
        string file = Path.Combine(stateDirectory, "silo.log");
        if (!File.Exists(file)) return "";
        var lines = File.ReadLines(file).Where(l => l.Contains(" Warning ", StringComparison.Ordinal) || l.Contains(" Error ", StringComparison.Ordinal));
        return $"\n--- {file}: last warnings and errors ---\n{string.Join('\n', lines.TakeLast(40))}";
    }

    [Fact]
    public async Task ASecondCtrlCExitsAtOnce()
    {
        using var dir = new TestDirectory();
        // Long steps (64 micro-batches each: one step per epoch of the 256 examples): after the first Ctrl+C the command waits seconds for the next step boundary's checkpoint.
        using var qst = QstProcess.Start(dir.Path, "train", "--local", "--plain", "--model", tiny.ModelDirectory, "--data", tiny.DataFile,
            "--state-dir", dir["state"], "--max-steps", "200", "--epochs", "100", "--micro-batch-size", "4", "--grad-accum", "64",
            "--checkpoint-every", "1000", "--checkpoint-minutes", "0", "--poll-ms", "50");
        // Interrupted as soon as the job runs (step 1 in progress): its first step boundary is then a whole 64-micro-batch
        // step away, as it was when this waited for step 1 to be printed (one long step less to wait for).
        await qst.WaitForOutput(": Running", Limit);
        qst.Interrupt();
        await qst.WaitForOutput("checkpoints at its next step boundary", Limit);
        Assert.False(qst.HasExited, qst.Output);
        qst.Interrupt();
        int code = await qst.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.True(code == 130, $"exit code {code}:\n{qst.Output}");
        Assert.DoesNotContain("checkpoint of step", qst.Output);
    }
}
