using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Tests.Checkpoints;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// A cluster to kill: redis-server (membership, grain state, reminders) and azurite (checkpoints) on free loopback
/// ports, and four silo processes (one cpu slot each) started with the production defaults for Redis clustering
/// (<c>Qst:State:Provider</c> and <c>Qst:Reminders</c> resolve to redis) and <c>Qst:Checkpoints:Store=azure</c>.
/// <see cref="Kill"/> sends SIGKILL to one silo's PID; <see cref="Restart"/> starts a silo of that name again on new
/// ports. Everything started here is killed by PID in <see cref="Dispose"/>. Fails (never skips) without
/// redis-server or azurite.
/// </summary>
public sealed class FaultClusterFixture : IDisposable
{
    public static readonly string[] SiloNames = ["fa", "fb", "fc", "fd"];
    readonly List<ChildProcess> _all = [];
    readonly Dictionary<string, ChildProcess> _silos = [];
    readonly string _root = Directory.CreateTempSubdirectory("qst-faults-").FullName;
    readonly AzuriteFixture _azurite;

    public FaultClusterFixture()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _azurite = new AzuriteFixture();
        try
        {
            MakeModelCommand.Run("tiny", ModelDirectory, seed: 5);
            SyntheticDatasets.WriteAlpacaJsonl(DataFile, 96, seed: 5);
            (var redis, RedisPort) = Loopback.StartRedis(_root);
            Track(redis);
            foreach (var name in SiloNames) StartSilo(name);
            WaitUp(SiloNames).GetAwaiter().GetResult();
            StartupSeconds = clock.Elapsed.TotalSeconds;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int RedisPort { get; }
    public double StartupSeconds { get; }
    public string RedisConnection => $"127.0.0.1:{RedisPort}";
    public string ClusterId { get; } = $"ft-{Guid.NewGuid():N}"[..16];
    public string CheckpointContainer { get; } = $"ckpt-{Guid.NewGuid():N}"[..20];
    public string AzuriteConnection => _azurite.ConnectionString;
    public string ModelDirectory => Path.Combine(_root, "tiny");
    public string DataFile => Path.Combine(_root, "data.jsonl");
    public string Scratch(string name) => Path.Combine(_root, name);

    public ChildProcess Silo(string name) { lock (_silos) return _silos[name]; }

    /// <summary>SIGKILL to the silo's process (a crash: it never leaves the cluster gracefully).</summary>
    public void Kill(string name) => Silo(name).KillHard();

    /// <summary>Starts silo <paramref name="name"/> again (new process, new ports) and waits until it is up.</summary>
    public Task Restart(params string[] names)
    {
        foreach (var name in names)
        {
            if (!Silo(name).HasExited) throw new InvalidOperationException($"silo {name} is still running");
            StartSilo(name);
        }
        return WaitUp(names);
    }

    /// <summary>Starts <c>dotnet qst.dll ARGS --redis … --cluster-id …</c> as a separate process.</summary>
    public ChildProcess StartQst(string name, params string[] arguments) =>
        Track(new ChildProcess(name, "dotnet", [RepoPaths.QstDll, .. arguments, "--redis", RedisConnection, "--cluster-id", ClusterId], _root));

    public Task<QstClient> ConnectAsync() =>
        QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = RedisConnection, ClusterId = ClusterId });

    void StartSilo(string name)
    {
        var silo = new ChildProcess(name, "dotnet",
        [
            RepoPaths.SiloDll, "--Qst:Clustering", "redis", "--Qst:Redis", RedisConnection, "--Qst:ClusterId", ClusterId,
            "--Qst:SiloName", name, "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(),
            "--Qst:Slots:0:Device", "cpu:0", "--Qst:Slots:0:MemoryGiB", "4", "--Qst:Http:Port", "0",   // several silos on one host: no HTTP port
            "--Qst:Checkpoints:Store", "azure", "--Qst:Checkpoints:ConnectionString", AzuriteConnection,
            "--Qst:Checkpoints:Container", CheckpointContainer, "--Qst:Checkpoints:KeepLast", "3",
        ], _root);
        Track(silo);
        lock (_silos) _silos[name] = silo;
    }

    Task WaitUp(IEnumerable<string> names) =>
        Task.WhenAll(names.Select(n => Silo(n)).Select(s => s.WaitForOutput($"silo {s.Name} up", TimeSpan.FromSeconds(90))));

    ChildProcess Track(ChildProcess process)
    {
        lock (_all) _all.Add(process);
        return process;
    }

    public void Dispose()
    {
        List<ChildProcess> all;
        lock (_all) all = [.. _all];
        foreach (var process in Enumerable.Reverse(all)) process.Dispose();
        _azurite.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class FaultClusterCollection : ICollectionFixture<FaultClusterFixture>
{
    public const string Name = "fault-cluster";
}
