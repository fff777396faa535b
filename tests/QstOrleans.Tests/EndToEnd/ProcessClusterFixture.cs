using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// A real cluster made of processes: redis-server on a free 127.0.0.1 port (membership table) and two silo
/// processes (<c>dotnet QstOrleans.Silo.dll</c> from this build, Redis clustering, one cpu slot each), plus a
/// tiny model and a synthetic dataset. Every process is started here and killed by its PID in
/// <see cref="Dispose"/>, also when construction fails half-way. Fails (never skips) without redis-server.
/// </summary>
public sealed class ProcessClusterFixture : IDisposable
{
    public static readonly string[] SiloNames = ["silo-a", "silo-b"];
    readonly List<ChildProcess> _processes = [];
    readonly string _root = Directory.CreateTempSubdirectory("qst-e2e-").FullName;

    public ProcessClusterFixture()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            MakeModelCommand.Run("tiny", ModelDirectory, seed: 3);
            SyntheticDatasets.WriteAlpacaJsonl(DataFile, 64, seed: 3);
            (var redis, RedisPort) = Loopback.StartRedis(_root);
            Start(redis);
            foreach (var name in SiloNames)
            {
                HttpPorts[name] = Loopback.FreePort();
                DashboardPorts[name] = Loopback.FreePort();
                Start(new ChildProcess(name, "dotnet",
                [
                    RepoPaths.SiloDll, "--Qst:Clustering", "redis", "--Qst:Redis", RedisConnection, "--Qst:ClusterId", ClusterId,
                    "--Qst:SiloName", name, "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(),
                    "--Qst:Slots:0:Device", "cpu:0", "--Qst:Slots:0:MemoryGiB", "4", "--Qst:Http:Port", HttpPorts[name].ToString(),
                    "--Qst:Dashboard:Port", DashboardPorts[name].ToString(),
                ], _root));
            }
            Task.WhenAll(Silos.Select(s => s.WaitForOutput($"silo {s.Name} up", TimeSpan.FromSeconds(60)))).GetAwaiter().GetResult();
            StartupSeconds = clock.Elapsed.TotalSeconds;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int RedisPort { get; }
    /// <summary>Each silo's HTTP port (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>), by silo name.</summary>
    public Dictionary<string, int> HttpPorts { get; } = [];
    /// <summary>Each silo's Orleans Dashboard port (<c>Qst:Dashboard:Port</c>), by silo name.</summary>
    public Dictionary<string, int> DashboardPorts { get; } = [];
    /// <summary>Model + data + Redis + both silos up (reported by the tests: it is most of their cost).</summary>
    public double StartupSeconds { get; }
    public string RedisConnection => $"127.0.0.1:{RedisPort}";
    public string ClusterId { get; } = $"e2e-{Guid.NewGuid():N}"[..16];
    public string ModelDirectory => Path.Combine(_root, "tiny");
    public string DataFile => Path.Combine(_root, "data.jsonl");
    public IReadOnlyList<ChildProcess> Silos => _processes.Where(p => SiloNames.Contains(p.Name)).ToList();

    /// <summary>Starts <c>dotnet qst.dll ARGS --redis … --cluster-id …</c> as a separate process.</summary>
    public ChildProcess StartQst(string name, params string[] arguments) =>
        Start(new ChildProcess(name, "dotnet", [RepoPaths.QstDll, .. arguments, "--redis", RedisConnection, "--cluster-id", ClusterId], _root));

    /// <summary>An Orleans client in the test process, for exact results (losses, weights) the CLI prints rounded.</summary>
    public Task<QstClient> ConnectAsync() =>
        QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = RedisConnection, ClusterId = ClusterId });

    public string Scratch(string name) => Path.Combine(_root, name);

    ChildProcess Start(ChildProcess process)
    {
        lock (_processes) _processes.Add(process);
        return process;
    }

    public void Dispose()
    {
        List<ChildProcess> all;
        lock (_processes) all = [.. _processes];
        // Clients and silos first, Redis last, each by its own PID.
        foreach (var process in Enumerable.Reverse(all)) process.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class ProcessClusterCollection : ICollectionFixture<ProcessClusterFixture>
{
    public const string Name = "process-cluster";
}

/// <summary>Where this build put the silo and the CLI (same configuration as the test assembly).</summary>
internal static class RepoPaths
{
    static readonly DirectoryInfo TestOutput = new(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
    static string Framework => TestOutput.Name;              // net10.0
    static string Configuration => TestOutput.Parent!.Name;  // Debug / Release

    public static string Root
    {
        get
        {
            for (var dir = TestOutput; dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "QstOrleans.sln"))) return dir.FullName;
            throw new InvalidOperationException($"no QstOrleans.sln above {TestOutput.FullName}");
        }
    }

    public static string SiloDll => Built("silos/QstOrleans.Silo", "QstOrleans.Silo.dll");
    public static string QstDll => Built("src/QstOrleans.Cli", "qst.dll");

    static string Built(string project, string file)
    {
        string path = Path.Combine(Root, project, "bin", Configuration, Framework, file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: build the solution (dotnet build) first", path);
    }
}
