namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// A silo refuses to join (exit 2, one line naming the key and the other silo) when a live member of the cluster already
/// has its <c>Qst:SiloName</c> or its advertised endpoint; a member that crashed (its process is gone but the table still
/// says Active) is not a clash, so a crashed silo restarts under its own name. Also checks the derived service id: the
/// silo reports <c>cluster ID/ID</c> when <c>Qst:ServiceId</c> is not set.
/// </summary>
public sealed class SiloClashTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("qst-clash-").FullName;
    readonly List<ChildProcess> _processes = [];
    readonly string _clusterId = $"clash-{Guid.NewGuid():N}"[..16];
    readonly int _redisPort;

    public SiloClashTests()
    {
        (var redis, _redisPort) = Loopback.StartRedis(_root);
        _processes.Add(redis);
    }

    ChildProcess Silo(string name, int siloPort) =>
        Track(new ChildProcess(name, "dotnet",
        [
            RepoPaths.SiloDll, "--Qst:Clustering", "redis", "--Qst:Redis", $"127.0.0.1:{_redisPort}", "--Qst:ClusterId", _clusterId,
            "--Qst:SiloName", name, "--Qst:SiloPort", siloPort.ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(),
            "--Qst:Slots:0:Device", "cpu:0", "--Qst:Slots:0:MemoryGiB", "1", "--Qst:Http:Port", "0",   // several silos on one host: no HTTP port
        ], _root));

    ChildProcess Track(ChildProcess process)
    {
        _processes.Add(process);
        return process;
    }

    [Fact]
    public async Task ALiveSiloWithTheSameNameOrEndpointIsRefusedACrashedOneIsNot()
    {
        int firstPort = Loopback.FreePort();
        var first = Silo("clash-a", firstPort);
        await first.WaitForOutput("silo clash-a up", TimeSpan.FromSeconds(90));
        Assert.Contains($"cluster {_clusterId}/{_clusterId} via redis advertising 127.0.0.1 (detected", first.Output);

        var sameName = Silo("clash-a", Loopback.FreePort());
        Assert.Equal(2, await sameName.WaitForExit(TimeSpan.FromSeconds(90)));
        Assert.Contains($"error: Qst:SiloName: 'clash-a' is already used by active silo 'clash-a' at 127.0.0.1:{firstPort}", sameName.Output);

        var sameEndpoint = Silo("clash-b", firstPort);
        Assert.Equal(2, await sameEndpoint.WaitForExit(TimeSpan.FromSeconds(90)));
        Assert.Contains($"error: Qst:AdvertisedAddress/Qst:SiloPort: 127.0.0.1:{firstPort} is already used by active silo 'clash-a'", sameEndpoint.Output);

        // A crash leaves clash-a Active in the table; its successor under the same name must still start.
        first.KillHard();
        var restarted = Silo("clash-a", Loopback.FreePort());
        await restarted.WaitForOutput("silo clash-a up", TimeSpan.FromSeconds(90));
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes)) process.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
