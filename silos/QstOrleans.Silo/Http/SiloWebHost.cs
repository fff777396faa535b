using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace QstOrleans.Silo.Http;

/// <summary>
/// A small Kestrel app beside the Orleans host, on one address and port: what the silo's HTTP endpoints
/// (<see cref="SiloHttpServer"/>) and the dashboard UI (<see cref="SiloDashboardServer"/>) share. Each is its own app
/// (own pipeline and container) rather than the Generic Host's, so a silo without a port runs no web server at all,
/// and a port that cannot be bound is one line naming its configuration key.
/// </summary>
public sealed class SiloWebHost : IAsyncDisposable
{
    readonly WebApplication _app;

    SiloWebHost(WebApplication app) => _app = app;

    /// <summary>Builds the app, lets <paramref name="map"/> add its endpoints and starts listening.</summary>
    /// <param name="portKey">The key of the port under <c>Qst</c> (e.g. <c>Http:Port</c>), named when it cannot be bound.</param>
    /// <param name="services">Registrations the app's own container needs (its endpoints resolve them).</param>
    /// <exception cref="SiloStartupException">The port cannot be bound.</exception>
    public static async Task<SiloWebHost> StartAsync(string portKey, string address, int port, Action<IServiceCollection> services,
        Action<WebApplication> map, CancellationToken cancel)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();   // the silo logs; Kestrel's per-request lines would only be noise
        services(builder.Services);
        var ip = IPAddress.Parse(address);
        builder.WebHost.ConfigureKestrel(k => k.Listen(ip, port));
        var app = builder.Build();
        map(app);
        try
        {
            await app.StartAsync(cancel);
        }
        catch (IOException e)
        {
            await app.DisposeAsync();
            throw new SiloStartupException($"{SiloConfiguration.Section}:{portKey}: cannot listen on {ip}:{port}: {e.Message}", e);
        }
        return new SiloWebHost(app);
    }

    public Task StopAsync(CancellationToken cancel) => _app.StopAsync(cancel);

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
