using System.Diagnostics;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// Upgrading silos one by one during a run (deploy/README.md, "Upgrading silos one by one"), on
/// <see cref="FaultClusterFixture"/>'s four silos: while <c>qst train</c> runs a two-stage job that checkpoints every 2
/// steps, each silo in turn is stopped gracefully (SIGTERM, what systemd and Kubernetes send) and started again; the next
/// silo goes only once the restarted one is up and the job has completed a step since the previous restart. The job is
/// paused while a silo is down (a fast machine would otherwise finish the 30 steps before the fourth restart; the test must
/// not depend on speed) and resumed once it is back, so every restart lands mid-run. The job must
/// complete with per-step losses and final side weights bitwise equal to the uninterrupted single-process run
/// (<see cref="SoloRun"/>, the same training seed and data).
/// </summary>
[Collection(FaultClusterCollection.Name)]
public sealed class RollingRestartTests(FaultClusterFixture cluster, ITestOutputHelper log)
{
    // 120 records in micro-batches of 4: one epoch of 30 steps. The job is paused once it has passed the previous restart's
    // step, so each of the four restarts costs only the steps in flight (the window of 3) plus a replay from the last
    // checkpoint (every 2): at most ≈ 5 steps each, 20 in all, and the restarts land at steps 1–4 under load. 30 steps keep
    // every restart mid-run; the 60 used before doubled the steps trained after the last restart and by the reference.
    const int Records = 120, Steps = 30, TrainSeed = 4;
    static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(300);

    [Fact]
    public async Task RestartingEverySiloOneByOneMidRunEndsWithTheUninterruptedWeights()
    {
        string jobId = $"roll-{Guid.NewGuid():N}"[..16];
        string data = cluster.Scratch($"{jobId}.jsonl");
        SyntheticDatasets.WriteAlpacaJsonl(data, Records, seed: 7);
        await using var client = await cluster.ConnectAsync();
        using var train = cluster.StartQst($"qst train {jobId}",
            [.. SoloRun.TrainArgs(cluster.ModelDirectory, data, TrainSeed, Steps, stages: 2), "--job-id", jobId, "--checkpoint-every", "2"]);

        int lastStep = 0;
        foreach (var name in FaultClusterFixture.SiloNames)
        {
            var progress = await Eventually.WaitUntil($"job {jobId} to pass step {lastStep}", () => Eventually.Retry(() => client.StatusAsync(jobId)),
                p => p.Step > lastStep && p.State == JobState.Running && p.Placement.Count > 0, RunTimeout,
                abort: p => p.IsFinished || train.HasExited ? $"the run ended ({p.State} at step {p.Step}) before silo {name} was restarted:\n{train.Output}" : null,
                poll: TimeSpan.FromMilliseconds(20));
            await Eventually.Retry(() => client.PauseAsync(jobId));
            var clock = Stopwatch.StartNew();
            await Stop(cluster.Silo(name));
            double stopped = clock.Elapsed.TotalSeconds;
            await cluster.Restart(name);
            await Eventually.Retry(async () => { await client.ResumeAsync(jobId); return true; });
            log.WriteLine($"at step {progress.Step} (stages {string.Join(", ", progress.Placement.Values)}, side trainer on {progress.SideSilo}, " +
                          $"job grain on {progress.JobSilo}): {name} stopped in {stopped:F1} s, up again after {clock.Elapsed.TotalSeconds:F1} s");
            lastStep = progress.Step;
        }

        int code = await train.WaitForExit(RunTimeout);
        log.WriteLine(train.Output);
        Assert.True(code == 0, $"qst train exited with {code}:\n{train.Output}");
        var final = await Eventually.Retry(() => client.StatusAsync(jobId));
        Assert.Equal(JobState.Completed, final.State);
        Assert.Equal(Steps, final.Step);
        foreach (var r in final.Recoveries)
            log.WriteLine($"recovery attempt {r.Attempt}: '{r.Reason.Split('\n')[0]}', resumed from step {r.ResumedFromStep}");

        var (losses, weights) = SoloRun.Train(cluster.ModelDirectory, data, TrainSeed, Steps, cluster.Scratch($"solo-{jobId}"));
        Assert.Equal(losses, final.Losses);
        var distributed = await Eventually.Retry(() => client.Grains.GetGrain<ISideTrainerGrain>(jobId).GetWeights());
        Assert.Equal(weights.Keys.Order(), distributed.Keys.Order());
        foreach (var (name, bytes) in weights)
            Assert.True(bytes.AsSpan().SequenceEqual(distributed[name].Data), $"{jobId}: weight '{name}' differs from the uninterrupted run");
    }

    /// <summary>SIGTERM to the silo's PID (a graceful stop: it leaves the cluster), then waits for the process to end.</summary>
    static async Task Stop(ChildProcess silo)
    {
        using (var kill = Process.Start("kill", ["-TERM", silo.Id.ToString()]))
            await kill.WaitForExitAsync();
        Assert.True(await silo.WaitForExit(TimeSpan.FromSeconds(60)) == 0, $"silo {silo.Name} did not stop cleanly:\n{silo.Output}");
    }
}
