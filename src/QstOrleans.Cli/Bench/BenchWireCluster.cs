using System.Diagnostics;
using QstOrleans.Client;

namespace QstOrleans.Cli.Bench;

/// <summary>
/// The namespace cluster of <c>qst bench wire</c>, driven through <c>deploy/netns-cluster.sh</c> (up, rate, down): two
/// silo hosts with two CPU slots each and Redis, names and subnet of its own so a cluster started by hand is not
/// touched. Counts the bytes that cross between the silo hosts from the interface counters in the root namespace:
/// <code>
/// S = Σ rx+tx of the silo veths = 2·(host↔host) + host↔Redis + host↔root
/// R = rx+tx of Redis' veth       = host↔Redis + root↔Redis
/// B = rx+tx of the bridge        = host↔root + root↔Redis     (the client in the root namespace)
/// host↔host = (S − R − B) / 2 + root↔Redis ≈ (S − R − B) / 2
/// </code>
/// (root↔Redis is the client's membership reads: bytes per second, against megabytes per second of tensors).
/// </summary>
internal sealed class BenchWireCluster : IAsyncDisposable
{
    public const int Hosts = 2;
    readonly string _script, _state, _prefix;
    readonly TextWriter _log;
    bool _up;

    BenchWireCluster(string repoRoot, string state, TextWriter log)
    {
        _script = Path.Combine(repoRoot, "deploy", "netns-cluster.sh");
        _state = state;
        _log = log;
        _prefix = $"qw{Random.Shared.Next(0x10000):x4}";
        Subnet = $"10.232.{Random.Shared.Next(1, 255)}";
        ClusterId = $"wire-{_prefix}";
    }

    public string Subnet { get; }
    public string ClusterId { get; }
    public string Redis => $"{Subnet}.2:6379";
    public QstClient Client { get; private set; } = null!;

    /// <summary>Brings the cluster up (building the silo unless <paramref name="noBuild"/>) and connects a client.</summary>
    /// <param name="siloArguments">Extra silo configuration, e.g. <c>--Qst:MinLinkMbit 50</c>.</param>
    public static async Task<BenchWireCluster> StartAsync(string repoRoot, string state, string configuration, bool noBuild,
        IReadOnlyList<string> siloArguments, TextWriter log)
    {
        var cluster = new BenchWireCluster(repoRoot, state, log);
        var args = new List<string> { "up", "--hosts", $"{Hosts}", "--slots", "2", "--prefix", cluster._prefix, "--subnet", cluster.Subnet,
            "--state", state, "--cluster-id", cluster.ClusterId, "--configuration", configuration };
        if (noBuild) args.Add("--no-build");
        foreach (var a in siloArguments) args.AddRange(["--silo-arg", a]);
        cluster._up = true;   // up cleans up after itself on failure; down is harmless either way
        // Ctrl+C ends the process without unwinding this object's DisposeAsync: take the namespaces, silos and Redis down then.
        Console.CancelKeyPress += cluster.DownOnInterrupt;
        log.WriteLine(await cluster.Script(args, TimeSpan.FromMinutes(15)));
        cluster.Client = await QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = cluster.Redis, ClusterId = cluster.ClusterId });
        return cluster;
    }

    /// <summary>Sets every silo link to <paramref name="mbit"/> Mbit/s in both directions (0 = unlimited).</summary>
    public async Task SetRateAsync(int mbit) => _log.WriteLine(await Script(["rate", mbit == 0 ? "none" : $"{mbit}mbit", "--state", _state], TimeSpan.FromMinutes(1)));

    /// <summary>host↔host bytes so far (see the class comment).</summary>
    public long HostToHostBytes()
    {
        long Counters(string link) => Read(link, "rx_bytes") + Read(link, "tx_bytes");
        long silos = Enumerable.Range(1, Hosts).Sum(i => Counters($"{_prefix}v{i}"));
        return (silos - Counters($"{_prefix}v0") - Counters($"{_prefix}br")) / 2;
    }

    static long Read(string link, string counter) =>
        long.Parse(File.ReadAllText($"/sys/class/net/{link}/statistics/{counter}").Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Kills silo <paramref name="name"/> (h1, h2) with SIGKILL, by the PID the script recorded.</summary>
    public void Kill(string name)
    {
        int pid = int.Parse(File.ReadAllText(Path.Combine(_state, $"silo-{name}.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using var process = Process.GetProcessById(pid);
        process.Kill();
        process.WaitForExit(10_000);
    }

    async Task<string> Script(IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(_script);
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start bash");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"netns-cluster.sh {arguments[0]} did not finish within {timeout.TotalMinutes:F0} min");
        }
        string text = (await output + await errors).TrimEnd();
        return process.ExitCode == 0 ? text : throw new InvalidOperationException($"netns-cluster.sh {arguments[0]} exited with {process.ExitCode}:\n{text}");
    }

    public async ValueTask DisposeAsync()
    {
        Console.CancelKeyPress -= DownOnInterrupt;
        if (Client is not null) await Client.DisposeAsync();
        if (_up) _log.WriteLine(await Script(["down", "--state", _state], TimeSpan.FromMinutes(2)));
        _up = false;
    }

    void DownOnInterrupt(object? sender, ConsoleCancelEventArgs e)
    {
        if (!_up) return;
        _up = false;
        Console.Error.WriteLine("interrupted: taking the namespace cluster down");
        Script(["down", "--state", _state], TimeSpan.FromMinutes(2)).GetAwaiter().GetResult();
    }
}
