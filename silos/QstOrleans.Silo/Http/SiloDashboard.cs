using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Dashboard;

namespace QstOrleans.Silo.Http;

/// <summary>
/// The Orleans Dashboard (<c>Microsoft.Orleans.Dashboard</c>) on <c>Qst:Dashboard:Port</c>: the silo part (its grains,
/// per-silo grain service and call profiler) via <see cref="ServiceCollectionExtensions.AddDashboard(ISiloBuilder, Action{DashboardOptions})"/>,
/// and the web UI in a <see cref="SiloWebHost"/> of its own, like <see cref="SiloHttpServer"/>.
/// </summary>
public static class SiloDashboard
{
    /// <summary>Adds the dashboard to the silo and serves its UI on <paramref name="options"/>' port once the silo has started.</summary>
    public static ISiloBuilder AddQstDashboard(this ISiloBuilder silo, SiloDashboardOptions options)
    {
        int before = silo.Services.Count;
        silo.AddDashboard();
        // The UI's endpoints resolve the dashboard's own services (its cluster client, embedded assets, log tap: internal
        // types of Orleans.Dashboard.*) from the web app's container, so those registrations are forwarded to the silo's.
        var forwarded = silo.Services.Skip(before)
            .Where(d => d.Lifetime == ServiceLifetime.Singleton && !d.IsKeyedService && !d.ServiceType.IsGenericTypeDefinition
                && d.ServiceType.Namespace?.StartsWith("Orleans.Dashboard", StringComparison.Ordinal) == true)
            .Select(d => d.ServiceType)
            .Append(typeof(IOptions<DashboardOptions>))
            .Distinct()
            .ToList();
        silo.Services.AddSingleton(new SiloDashboardServer.Forwarded(forwarded));
        silo.Services.AddSingleton(options);
        // After UseOrleans' own hosted service: the UI starts once the silo is up and stops before it leaves.
        silo.Services.AddHostedService<SiloDashboardServer>();
        return silo;
    }
}

/// <summary>Serves the dashboard UI (<c>MapOrleansDashboard</c>) on <c>Qst:Dashboard:Port</c>.</summary>
public sealed class SiloDashboardServer(IServiceProvider services, SiloDashboardOptions options, SiloDashboardServer.Forwarded forwarded,
    ILogger<SiloDashboardServer> log) : IHostedService, IAsyncDisposable
{
    /// <summary>The silo services the UI's endpoints need, resolved from the silo's container.</summary>
    public sealed record Forwarded(IReadOnlyList<Type> Types);

    SiloWebHost? _web;

    public async Task StartAsync(CancellationToken cancel)
    {
        _web = await SiloWebHost.StartAsync("Dashboard:Port", options.Address, options.Port, Forward, app => app.MapOrleansDashboard(), cancel);
        log.LogInformation("dashboard: http://{Address}:{Port}/", options.Address, options.Port);
    }

    /// <summary>
    /// Instances, not factories: the web app's container must not dispose what the silo's owns. A service this silo's
    /// configuration cannot build (the membership-table details provider under localhost clustering) is left out: the
    /// dashboard picks the other one.
    /// </summary>
    void Forward(IServiceCollection web)
    {
        foreach (var type in forwarded.Types)
        {
            try
            {
                if (services.GetService(type) is { } instance) web.AddSingleton(type, instance);
            }
            catch (InvalidOperationException e)
            {
                log.LogDebug("dashboard: {Service} not available on this silo: {Message}", type.Name, e.Message);
            }
        }
    }

    public async Task StopAsync(CancellationToken cancel)
    {
        if (_web is not null) await _web.StopAsync(cancel);
    }

    public async ValueTask DisposeAsync()
    {
        if (_web is not null) await _web.DisposeAsync();
    }
}
