using QstOrleans.Client;
using QstOrleans.Tests.Client;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.SiloDeaths;

/// <summary>
/// The issue's setting for an unrelated silo death: a real cluster of silo processes with Redis clustering (redis-server
/// and four silos started by the test, stopped by their PIDs). SIGKILLing the silo that holds none of a running job's
/// grains must cause no recovery; the job, still running when the cluster drops the dead silo, completes on attempt 0.
/// </summary>
public sealed class UnrelatedSiloProcessDeathTests(ITestOutputHelper output) : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("qst-unrelated-death-").FullName;
    readonly List<ChildProcess> _processes = [];

    // Issue 15's "unrelated silo death": with Orleans' older partitioned grain directory (Qst:GrainDirectory=partitioned) this
    // failed about one run in two: the dead silo held the directory entry of the job grain or of its stage, Orleans deactivated
    // that (healthy) activation on the surviving silo, and the next call re-activated it empty ("job grain re-activated with a
    // running job", or "stage … has no layers loaded"). The distributed directory (the default) keeps them.
    [Fact]
    public async Task SigkillingASiloProcessThatHoldsNoPartOfTheJobCausesNoRecovery()
    {
        var (redis, port) = Loopback.StartRedis(_root);
        _processes.Add(redis);
        string connection = $"127.0.0.1:{port}", clusterId = $"ud-{Guid.NewGuid():N}"[..12];
        // Four silos for three grains (job, side trainer, one stage): one always holds none of them.
        string[] names = ["silo-a", "silo-b", "silo-c", "silo-d"];
        foreach (string name in names)
        {
            _processes.Add(new ChildProcess(name, "dotnet",
            [
                RepoPaths.SiloDll, "--Qst:Clustering", "redis", "--Qst:Redis", connection, "--Qst:ClusterId", clusterId, "--Qst:SiloName", name,
                "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(), "--Qst:Slots:0:Device", "cpu:0",
                "--Qst:Http:Port", "0", "--Qst:Checkpoints:Store", "local", "--Qst:Checkpoints:Path", Path.Combine(_root, "checkpoints"),
            ], _root));
        }
        foreach (var silo in _processes.Skip(1)) await silo.WaitForOutput($"silo {silo.Name} up", TimeSpan.FromSeconds(180));
        string model = Path.Combine(_root, "tiny"), data = Path.Combine(_root, "data.jsonl");
        InProcessSilo.WriteTinyInputs(model, data);

        await using var client = await QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = connection, ClusterId = clusterId });
        var spec = new JobSpec
        {
            ModelDirectory = model, DataFile = data, MaxSteps = 40, Epochs = 20, MicroBatchSize = 4, GradientAccumulation = 2, Seed = 3, Stages = 1,
            Window = 3, CheckpointEverySteps = 2,
        };
        var started = (await client.SubmitAsync("unrelated", spec)).Progress;
        var used = started.Placement.Values.Select(slot => slot.Split('/')[0]).Append(started.JobSilo).Append(started.SideSilo).ToHashSet();
        var victim = _processes.Skip(1).First(p => !used.Contains(p.Name));
        using (var first = new CancellationTokenSource(TimeSpan.FromMinutes(3)))
            await foreach (var e in client.WatchAsync("unrelated", cancel: first.Token))
                if (e is JobStepCompleted { Step: >= 3 } or JobStateChanged { IsFinished: true }) break;
        output.WriteLine($"killing {victim.Name}; the job's grains are on {string.Join(", ", used)}");
        victim.KillHard();
        // The cluster must notice the death while the job still runs, else the kill proves nothing.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (await LiveSlots(client) != names.Length - 1)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the cluster still lists {victim.Name}'s slot 90 s after the kill");
            await Task.Delay(200);
        }
        var noticed = await client.StatusAsync("unrelated");
        output.WriteLine($"the cluster dropped {victim.Name} at step {noticed.Step} ({noticed.State})");
        Assert.False(noticed.IsFinished, "the job ended before the cluster noticed the death: make it longer");

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await foreach (var _ in client.WatchAsync("unrelated", cancel: timeout.Token)) { }
        var done = await client.StatusAsync("unrelated");
        foreach (var r in done.Recoveries) output.WriteLine($"recovery {r.Attempt}: {r.Reason}");
        // The surviving silos' lines about the job (activations, recoveries, stage loads): the evidence when this fails.
        foreach (var silo in _processes.Skip(1).Where(p => p != victim))
        foreach (var line in silo.Output.Split('\n').Where(l => new[] { "unrelated", "warn:", "fail:", "directory" }.Any(w => l.Contains(w, StringComparison.Ordinal))))
            output.WriteLine($"{silo.Name}: {line.TrimEnd()}");
        Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
        Assert.Empty(done.Recoveries);
        Assert.Equal(0, done.Attempt);
    }

    /// <summary>The cluster's slot count; null while the slots grain is unreachable (it may have lived on the dead silo).</summary>
    static async Task<int?> LiveSlots(QstClient client)
    {
        try { return (await client.SlotsAsync()).Count; }
        catch (Exception e) when (e is TimeoutException or OrleansException) { return null; }
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes)) process.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
