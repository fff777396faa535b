using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using QstOrleans.Grains.Telemetry;

namespace QstOrleans.Silo.Http;

/// <summary>
/// Registers the silo's metrics: the <c>qst_*</c> meters (<see cref="QstMeters"/>, <see cref="WorkerGauges"/>,
/// <see cref="EngineGauges"/>), Orleans' own meter (<c>Microsoft.Orleans</c>: messaging, activations, membership) and process memory, exported to the
/// Prometheus endpoint of <see cref="SiloHttpServer"/> and, when <c>Qst:Telemetry:OtlpEndpoint</c> is set, over OTLP.
/// </summary>
public static class SiloTelemetry
{
    /// <summary>Orleans' meter name (Orleans.Runtime's <c>Instruments</c>).</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    public static IServiceCollection AddQstTelemetry(this IServiceCollection services, SiloHostOptions host, QstOrleans.Grains.Hosting.QstSiloOptions silo)
    {
        string siloName = silo.SiloName;
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("qst-silo", serviceInstanceId: siloName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(QstMeters.MeterName + "*", OrleansMeter, ProcessGauges.MeterName);
                // No scrape cache (the exporter's default keeps a response for 300 ms): a scrape right after a step must show it;
                // Prometheus scrapes every few seconds, so rendering each time costs nothing.
                if (host.Http.Port > 0) metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                if (!string.IsNullOrWhiteSpace(host.Telemetry.OtlpEndpoint))
                    metrics.AddOtlpExporter(o =>
                    {
                        o.Endpoint = new Uri(host.Telemetry.OtlpEndpoint);
                        o.Protocol = host.Telemetry.OtlpProtocol == "http" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                    });
            });
        ProcessGauges.Register();
        EngineGauges.Register(silo.Slots.Select(s => s.Device));
        return services;
    }
}
