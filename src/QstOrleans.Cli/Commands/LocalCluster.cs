using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Client;
using QstOrleans.Grains.Hosting;

namespace QstOrleans.Cli.Commands;

/// <summary>
/// <c>qst train --local</c>: a one-silo Orleans cluster inside this process (localhost clustering on free
/// ports, <c>slots</c> CPU device slots so every stage gets its own), and a <see cref="QstClient"/> over the
/// silo's own grain factory. Same grains, placement and messaging as a real cluster, no server to start.
/// </summary>
internal sealed class LocalCluster : IAsyncDisposable
{
    readonly IHost _host;

    LocalCluster(IHost host, QstClient client)
    {
        _host = host;
        Client = client;
    }

    public QstClient Client { get; }

    /// <param name="join">null: a standalone one-silo cluster on free ports. Otherwise this silo's ports, the
    /// primary silo to join and its name (`qst bench pipeline` runs one such silo per process, pinned to a core).</param>
    public static async Task<LocalCluster> StartAsync(int slots, CancellationToken cancel, LocalSiloJoin? join = null)
    {
        if (slots < 1) throw new ArgumentException($"--stages must be >= 1, got {slots}");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // Only warnings, on stderr: stdout is the progress display.
        builder.Logging.SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error)
            .AddFilter("Orleans.Runtime.Silo", LogLevel.Error) // "not running with ServerGC": irrelevant to a CLI
            .AddSimpleConsole(c => c.SingleLine = true)
            .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
        int siloPort = join?.SiloPort ?? FreePort(), gatewayPort = join?.GatewayPort ?? FreePort();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, join is null ? null : new IPEndPoint(IPAddress.Loopback, join.PrimarySiloPort),
                serviceId: "qst-local", clusterId: join?.ClusterId ?? $"qst-local-{Environment.ProcessId}");
            silo.AddQst(new QstSiloOptions
            {
                SiloName = join?.SiloName ?? "local",
                Slots = Enumerable.Range(0, slots).Select(i => new SlotOptions { Device = $"cpu:{i}", MemoryGiB = 8 }).ToList(),
            });
        });
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
        return new LocalCluster(host, new QstClient(host.Services.GetRequiredService<IGrainFactory>()));
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

/// <summary>One silo of a local cluster spread over processes: its ports, the primary's silo port, the cluster id, its name.</summary>
internal sealed record LocalSiloJoin(int SiloPort, int GatewayPort, int PrimarySiloPort, string ClusterId, string SiloName);
