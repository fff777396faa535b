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

    public static async Task<LocalCluster> StartAsync(int slots, CancellationToken cancel)
    {
        if (slots < 1) throw new ArgumentException($"--stages must be >= 1, got {slots}");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // Only warnings, on stderr: stdout is the progress display.
        builder.Logging.SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error)
            .AddFilter("Orleans.Runtime.Silo", LogLevel.Error) // "not running with ServerGC": irrelevant to a CLI
            .AddSimpleConsole(c => c.SingleLine = true)
            .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
        int siloPort = FreePort(), gatewayPort = FreePort();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: "qst-local", clusterId: $"qst-local-{Environment.ProcessId}");
            silo.AddQst(new QstSiloOptions
            {
                SiloName = "local",
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

    static int FreePort()
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
