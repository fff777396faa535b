using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace QstOrleans.Silo.Http;

/// <summary>
/// The silo's HTTP endpoints on <c>Qst:Http:Port</c>, a <see cref="SiloWebHost"/> beside the Orleans host (its own pipeline,
/// the silo's services):
/// <list type="bullet">
/// <item><c>GET /healthz</c>: 200 <c>ok</c> while the process runs (liveness; it does not depend on the cluster).</item>
/// <item><c>GET /readyz</c>: 200 when every <see cref="SiloReadiness"/> check holds, else 503; one line per check.</item>
/// <item><c>GET /metrics</c>: the <c>qst_*</c> and Orleans meters in the Prometheus text format.</item>
/// <item><c>GET /jobs/{id}</c>: a job's page (<see cref="JobPages"/>).</item>
/// </list>
/// Registered before Orleans, so it starts first (liveness answers while the silo joins) and stops last.
/// </summary>
public sealed class SiloHttpServer(IServiceProvider services, SiloHttpOptions options, ILogger<SiloHttpServer> log) : IHostedService, IAsyncDisposable
{
    SiloWebHost? _web;

    public async Task StartAsync(CancellationToken cancel)
    {
        var readiness = services.GetRequiredService<SiloReadiness>();
        _web = await SiloWebHost.StartAsync("Http:Port", options.Address, options.Port, _ => { }, app =>
        {
            app.UseOpenTelemetryPrometheusScrapingEndpoint(services.GetRequiredService<MeterProvider>(), predicate: null, path: "/metrics",
                configureBranchedPipeline: null, optionsName: null);
            app.MapGet("/healthz", () => Results.Text("ok\n"));
            app.MapJobPages(services);
            app.MapGet("/readyz", async (CancellationToken c) =>
            {
                var checks = await readiness.CheckAsync(c);
                bool ready = checks.All(x => x.Ok);
                var text = new StringBuilder(ready ? "ready\n" : "not ready\n");
                foreach (var check in checks) text.Append($"{check.Name}: {(check.Ok ? "ok" : "FAIL")} {check.Detail}\n");
                return Results.Text(text.ToString(), statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
            });
        }, cancel);
        log.LogInformation("http: /healthz, /readyz and /metrics on {Address}:{Port}", options.Address, options.Port);
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
