using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Client;
using QstOrleans.Grains.Hosting;

namespace QstOrleans.Cli.Cluster;

/// <summary>
/// <c>qst train --local</c>: a one-silo Orleans cluster inside this process (localhost clustering on free
/// ports, <c>slots</c> CPU device slots so every stage gets its own), and a <see cref="QstClient"/> over the
/// silo's own grain factory. Same grains, placement and messaging as a real cluster, no server to start.
/// Durable: job state lives in the blob grain storage under <c>{state dir}/state</c> and checkpoints under
/// <c>{state dir}/checkpoints</c>, so a killed run started again on the same state directory resumes its jobs
/// (the silo's startup task pokes every unfinished one). The silo itself is configured by
/// <see cref="LocalSiloHost.AddQstLocal"/>; this class adds the CLI's logging and the client.
/// </summary>
internal sealed class LocalCluster : IAsyncDisposable
{
    /// <summary>Slots of a cluster started to resume or inspect a job whose stage count is not known yet (unused slots cost nothing).</summary>
    public const int ResumeSlots = 8;

    readonly IHost _host;

    LocalCluster(IHost host, QstClient client, string stateDirectory)
    {
        _host = host;
        Client = client;
        StateDirectory = stateDirectory;
    }

    public QstClient Client { get; }
    public string StateDirectory { get; }

    public static string CheckpointDirectory(string stateDirectory) => LocalSiloHost.CheckpointDirectory(stateDirectory);

    /// <param name="join">null: a standalone one-silo cluster on free ports. Otherwise this silo's ports, the
    /// primary silo to join and its name (`qst bench pipeline` runs one such silo per process, pinned to a core).</param>
    /// <param name="deviceKind">cpu (slots cpu:0..) or cuda (slots cuda:0.., one GPU per stage).</param>
    public static async Task<LocalCluster> StartAsync(int slots, string stateDirectory, CancellationToken cancel, LocalSiloJoin? join = null,
        string deviceKind = "cpu")
    {
        if (slots < 1) throw new ArgumentException($"--stages must be >= 1, got {slots}");
        if (deviceKind is not ("cpu" or "cuda")) throw new ArgumentException($"--device: '{deviceKind}' is not cpu or cuda");
        // Each slot is one device; a missing GPU is reported here rather than when the first stage loads.
        if (deviceKind == "cuda") QstOrleans.Model.Devices.ComputeDevice.Parse($"cuda:{slots - 1}", "--device cuda with --stages " + slots);
        stateDirectory = Path.GetFullPath(stateDirectory);
        Directory.CreateDirectory(stateDirectory);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // Only warnings: stdout is the progress display. A silo of this command logs to silo.log in the state folder (the
        // command prints each job error once); a silo of a multi-process bench logs to stderr, which its parent reads.
        builder.Logging.SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error)
            .AddFilter("Orleans.Runtime.Silo", LogLevel.Error); // "not running with ServerGC": irrelevant to a CLI
        if (join is null) builder.Logging.AddProvider(new SiloLogFile(System.IO.Path.Combine(stateDirectory, SiloLogFile.FileName)));
        else builder.Logging.AddSimpleConsole(c => c.SingleLine = true).AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
        // Ctrl+C belongs to the command (Interrupts: the job runs on to a checkpoint), not to the host, whose console
        // lifetime would stop the silo under the running job on the first signal.
        if (join is null) builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        int siloPort = join?.SiloPort ?? FreePort(), gatewayPort = join?.GatewayPort ?? FreePort();
        builder.UseOrleans(silo => silo.AddQstLocal(new LocalSiloOptions
        {
            StateDirectory = stateDirectory,
            Devices = Enumerable.Range(0, slots).Select(i => $"{deviceKind}:{i}").ToList(),
            SiloPort = siloPort,
            GatewayPort = gatewayPort,
            PrimarySiloPort = join?.PrimarySiloPort,
            ClusterId = join?.ClusterId ?? $"qst-local-{Environment.ProcessId}",
            SiloName = join?.SiloName ?? "local",
        }));
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancel);
        }
        catch
        {
            host.Dispose();
            throw;
        }
        return new LocalCluster(host, new QstClient(host.Services.GetRequiredService<IGrainFactory>()), stateDirectory);
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(5));
        }
        finally
        {
            _host.Dispose();
        }
    }
}

/// <summary>A host lifetime that ignores signals: the command starts and stops the in-process cluster.</summary>
internal sealed class CommandLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>One silo of a local cluster spread over processes: its ports, the primary's silo port, the cluster id, its name.</summary>
internal sealed record LocalSiloJoin(int SiloPort, int GatewayPort, int PrimarySiloPort, string ClusterId, string SiloName);
