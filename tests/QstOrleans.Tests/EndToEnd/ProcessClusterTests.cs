using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// The whole system as users run it: Redis, two silo processes and the <c>qst</c> CLI as separate processes.
/// Checks the CLI's exit codes and output, that each silo process hosted one stage, and that two jobs
/// submitted at once by two client processes share the stage grains yet each ends exactly (bitwise losses
/// and side weights) where the single-process trainer ends with the same settings.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class ProcessClusterTests(ProcessClusterFixture cluster, ITestOutputHelper log)
{
    static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(90);

    string[] TrainArgs(string jobId, int seed, int steps) =>
        [.. SoloRun.TrainArgs(cluster.ModelDirectory, cluster.DataFile, seed, steps, stages: 2), "--job-id", jobId];

    [Fact]
    public async Task TrainThroughTwoSiloProcessesThenStatusAndJobs()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        log.WriteLine($"cluster started in {cluster.StartupSeconds:F1} s");
        using var train = cluster.StartQst("qst train", TrainArgs("e2e-single", seed: 1, steps: 4));
        int code = await train.WaitForExit(ClientTimeout);
        log.WriteLine($"qst train: {clock.Elapsed.TotalSeconds:F1} s\n{train.Output}");
        Assert.True(code == 0, $"qst train exited with {code}:\n{train.Output}");
        Assert.Contains("step     4/4", train.Output);
        Assert.Contains("job e2e-single completed: step 4/4", train.Output);

        // Three independent client processes at once (each costs a process start and a connect).
        using var status = cluster.StartQst("qst status", "status", "e2e-single");
        using var jobs = cluster.StartQst("qst jobs", "jobs");
        using var unknown = cluster.StartQst("qst status unknown", "status", "no-such-job");
        int[] codes = await Task.WhenAll(status.WaitForExit(ClientTimeout), jobs.WaitForExit(ClientTimeout), unknown.WaitForExit(ClientTimeout));
        log.WriteLine($"qst status/jobs: {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(codes[0] == 0, $"qst status exited with {codes[0]}:\n{status.Output}");
        // One stage on each silo process: the slots are named after the silos.
        foreach (var silo in ProcessClusterFixture.SiloNames) Assert.Contains($" on {silo}/cpu:0", status.Output);
        foreach (var silo in cluster.Silos)
            Assert.True(silo.Output.Contains("loaded layers", StringComparison.Ordinal), $"{silo.Name} loaded no stage:\n{silo.Output}");
        Assert.True(codes[1] == 0, $"qst jobs exited with {codes[1]}:\n{jobs.Output}");
        Assert.Matches(@"e2e-single\s+Completed\s+step 4/4", jobs.Output);
        Assert.True(codes[2] == 2, $"qst status no-such-job exited with {codes[2]}:\n{unknown.Output}");
        Assert.Contains("no job 'no-such-job'", unknown.Output);
    }

    [Fact]
    public async Task TwoClientsAtOnceShareStagesAndMatchTheirSoloResults()
    {
        const int steps = 3;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var first = cluster.StartQst("qst train A", TrainArgs("e2e-a", seed: 1, steps));
        using var second = cluster.StartQst("qst train B", TrainArgs("e2e-b", seed: 2, steps));
        int[] codes = await Task.WhenAll(first.WaitForExit(ClientTimeout), second.WaitForExit(ClientTimeout));
        log.WriteLine($"two clients: {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(codes[0] == 0, $"client A exited with {codes[0]}:\n{first.Output}");
        Assert.True(codes[1] == 0, $"client B exited with {codes[1]}:\n{second.Output}");

        await using var client = await cluster.ConnectAsync();
        var a = await client.StatusAsync("e2e-a");
        var b = await client.StatusAsync("e2e-b");
        // Same model and split on the same slots: the two jobs drove the same stage grains.
        Assert.Equal(2, a.Placement.Count);
        Assert.Equal(a.Placement.OrderBy(kv => kv.Key), b.Placement.OrderBy(kv => kv.Key));

        foreach (var (job, seed) in new[] { (a, 1L), (b, 2L) })
        {
            var (losses, weights) = SoloRun.Train(cluster.ModelDirectory, cluster.DataFile, seed, steps, cluster.Scratch($"solo-{seed}-{Guid.NewGuid():N}"));
            Assert.Equal(losses, job.Losses);
            var distributed = await client.Grains.GetGrain<ISideTrainerGrain>(job.JobId).GetWeights();
            Assert.Equal(weights.Keys.Order(), distributed.Keys.Order());
            foreach (var (name, bytes) in weights)
                Assert.True(bytes.AsSpan().SequenceEqual(distributed[name].Data), $"{job.JobId}: weight '{name}' differs from the solo run");
        }
        log.WriteLine($"solo runs compared: {clock.Elapsed.TotalSeconds:F1} s");
    }
}
