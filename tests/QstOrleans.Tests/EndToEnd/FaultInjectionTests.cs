using System.Diagnostics;
using QstOrleans.Client;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// Real-process fault injection on <see cref="FaultClusterFixture"/>: while <c>qst train</c> (its own process) runs a
/// two-stage job that checkpoints every 2 steps, SIGKILL the silo hosting a backbone stage, the one hosting the side
/// trainer, the one hosting the job grain (each at a random step: the seed is printed, <c>QST_FAULT_SEED</c> replays
/// it), or every silo at once followed by a restart. Each run must complete with the exact step count, per-step losses
/// and final side weights bitwise equal to the uninterrupted single-process run with the same training seed (the
/// independent reference: <see cref="SoloRun"/>). Prints the recovery time: kill → first optimizer step after resume.
/// </summary>
[Collection(FaultClusterCollection.Name)]
public sealed class FaultInjectionTests(FaultClusterFixture cluster, ITestOutputHelper log)
{
    // 24 steps = one epoch of the fixture's 96 records in micro-batches of 4. The kill lands in the first third, so on a
    // quiet box (12 steps took 4.5 s) the job is still running when the progress poll sees the kill step.
    const int Steps = 24, TrainSeed = 3;
    static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(150);
    static (List<float> Losses, Dictionary<string, byte[]> Weights)? _solo;

    enum Target { Stage, SideTrainer, JobGrain }

    [Fact] public Task KillTheSiloOfABackboneStage() => KillOneSilo("ft-stage", Target.Stage);
    [Fact] public Task KillTheSiloOfTheSideTrainer() => KillOneSilo("ft-side", Target.SideTrainer);
    [Fact] public Task KillTheSiloOfTheJobGrain() => KillOneSilo("ft-job", Target.JobGrain);

    string[] TrainArgs(string jobId) =>
        [.. SoloRun.TrainArgs(cluster.ModelDirectory, cluster.DataFile, TrainSeed, Steps, stages: 2), "--job-id", jobId, "--checkpoint-every", "2"];

    int KillStep(string test)
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("QST_FAULT_SEED"), out var s) ? s : Random.Shared.Next();
        int step = new Random(seed).Next(2, Steps / 3);
        log.WriteLine($"{test}: fault seed {seed} (QST_FAULT_SEED={seed} replays it) -> kill after step {step}");
        return step;
    }

    async Task KillOneSilo(string jobId, Target target)
    {
        jobId = $"{jobId}-{Guid.NewGuid():N}"[..20];
        int killAt = KillStep(jobId);
        await using var client = await cluster.ConnectAsync();
        using var train = cluster.StartQst($"qst train {jobId}", TrainArgs(jobId));
        var before = await WaitForStep(client, jobId, killAt, train);

        string victim = Victim(before, target);
        log.WriteLine($"at step {before.Step}: stages {string.Join(", ", before.Placement.Select(kv => $"{kv.Key}@{kv.Value}"))}, " +
                      $"side trainer on {before.SideSilo}, job grain on {before.JobSilo}; killing {victim} (pid {cluster.Silo(victim).Id})");
        var killedAt = DateTimeOffset.UtcNow;
        cluster.Kill(victim);

        int code = await train.WaitForExit(RunTimeout);
        log.WriteLine(train.Output);
        Assert.True(code == 0, $"qst train exited with {code} after {victim} was killed:\n{train.Output}\n--- surviving silos ---\n{SiloLogs()}");
        Assert.Contains($"job {jobId}: Completed", train.Output);
        await CheckAgainstSolo(client, jobId, killedAt);
        await cluster.Restart(victim);   // the next test starts on four silos again
    }

    [Fact]
    public async Task KillEverySiloThenRestartTheCluster()
    {
        string jobId = $"ft-all-{Guid.NewGuid():N}"[..20];
        int killAt = KillStep(jobId);
        using var train = cluster.StartQst($"qst train {jobId}", TrainArgs(jobId));
        await using (var client = await cluster.ConnectAsync())
            await WaitForStep(client, jobId, killAt, train);

        var killedAt = DateTimeOffset.UtcNow;
        foreach (var name in FaultClusterFixture.SiloNames) cluster.Kill(name);
        log.WriteLine($"killed every silo after step >= {killAt}");
        var clock = Stopwatch.StartNew();
        await cluster.Restart(FaultClusterFixture.SiloNames);
        log.WriteLine($"cluster restarted in {clock.Elapsed.TotalSeconds:F1} s; {FaultClusterFixture.SiloNames[0]}'s start:\n{Tail(cluster.Silo(FaultClusterFixture.SiloNames[0]).Output, 12)}");

        // The client that followed the job lost every gateway. It rides the outage out (exit 0 when the job completes)
        // or gives up (typically exit 3, "the cluster did not answer"); then the user runs the same command again: Start
        // on an existing unfinished job recovers it and follows it to the end. (A job that really failed fails the rerun
        // too: it follows the same job, and the final state and weights are checked below.)
        int code = await train.WaitForExit(RunTimeout);
        log.WriteLine($"first client exited with {code}:\n{train.Output}");
        if (code != 0)
        {
            using var again = cluster.StartQst($"qst train {jobId} again", TrainArgs(jobId));
            code = await again.WaitForExit(RunTimeout);
            log.WriteLine(again.Output);
            Assert.True(code == 0, $"qst train (again) exited with {code}:\n{again.Output}\n--- silos ---\n{SiloLogs()}");
        }
        Assert.True(code == 0, $"qst train exited with {code}:\n{train.Output}\n--- silos ---\n{SiloLogs()}");
        await using var fresh = await cluster.ConnectAsync();
        await CheckAgainstSolo(fresh, jobId, killedAt);
    }

    async Task CheckAgainstSolo(QstClient client, string jobId, DateTimeOffset killedAt)
    {
        var final = await Eventually.Retry(() => client.StatusAsync(jobId));
        Assert.Equal(JobState.Completed, final.State);
        Assert.Equal(Steps, final.Step);
        Assert.NotEmpty(final.Recoveries);
        foreach (var r in final.Recoveries)
        {
            string total = r.SecondsToFirstStep is { } s ? $"{(r.DetectedAt - killedAt).TotalSeconds + s:F1}" : "?";
            log.WriteLine($"recovery attempt {r.Attempt}: '{r.Reason.Split('\n')[0]}'; detected {(r.DetectedAt - killedAt).TotalSeconds:F1} s after the kill, " +
                          $"resumed from step {r.ResumedFromStep}, first step {r.SecondsToFirstStep:F1} s after detection; kill -> first step {total} s");
        }
        Assert.True(final.Recoveries[^1].SecondsToFirstStep is not null, "the last recovery never completed a step");

        _solo ??= SoloRun.Train(cluster.ModelDirectory, cluster.DataFile, TrainSeed, Steps, cluster.Scratch($"solo-{Guid.NewGuid():N}"));
        var (losses, weights) = _solo.Value;
        Assert.Equal(losses, final.Losses);
        var distributed = await Eventually.Retry(() => client.Grains.GetGrain<ISideTrainerGrain>(jobId).GetWeights());
        Assert.Equal(weights.Keys.Order(), distributed.Keys.Order());
        foreach (var (name, bytes) in weights)
            Assert.True(bytes.AsSpan().SequenceEqual(distributed[name].Data), $"{jobId}: weight '{name}' differs from the uninterrupted run");
    }

    static string Victim(JobProgress progress, Target target) => target switch
    {
        // Prefer a stage silo that hosts neither the job nor the side trainer, so that only the stage is lost.
        Target.Stage => progress.Placement.Values.Select(SiloOf).OrderBy(s => s == progress.JobSilo || s == progress.SideSilo ? 1 : 0).First(),
        Target.SideTrainer => progress.SideSilo ?? throw new InvalidOperationException("the job reports no side-trainer silo"),
        _ => progress.JobSilo ?? throw new InvalidOperationException("the job reports no job silo"),
    };

    static string SiloOf(string slot) => slot[..slot.IndexOf('/')];

    async Task<JobProgress> WaitForStep(QstClient client, string jobId, int step, ChildProcess train) =>
        await Eventually.WaitUntil($"job {jobId} to reach step {step} with its grains placed", () => Eventually.Retry(() => client.StatusAsync(jobId)),
            p => p.Step >= step && p.SideSilo is not null && p.Placement.Count > 0, RunTimeout,
            abort: p => p.IsFinished || train.HasExited ? $"job {jobId} ended ({p.State} at step {p.Step}):\n{train.Output}" : null,
            poll: TimeSpan.FromMilliseconds(20));


    string SiloLogs() => string.Join("\n", FaultClusterFixture.SiloNames.Select(n => $"--- {n} ---\n{Tail(cluster.Silo(n).Output, 40)}"));

    static string Tail(string text, int lines) => string.Join('\n', text.Split('\n').TakeLast(lines));
}
