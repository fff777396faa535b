namespace QstOrleans.Silo.Http;

/// <summary>
/// The silo's HTTP port (keys under <c>Qst:Http</c>): <c>/healthz</c> (liveness), <c>/readyz</c> (readiness) and
/// <c>/metrics</c> (Prometheus text). Several silos on one host each need their own port (or 0).
/// <code>
/// "Http": { "Port": 8080, "Address": "0.0.0.0" }
/// </code>
/// </summary>
public sealed record SiloHttpOptions
{
    /// <summary>TCP port; 0 turns the HTTP endpoints off.</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Listen address: every interface by default, so Kubernetes probes and Prometheus reach the pod IP.</summary>
    public string Address { get; init; } = "0.0.0.0";
}

/// <summary>
/// Where else metrics go (keys under <c>Qst:Telemetry</c>). The Prometheus endpoint needs no setting; OTLP is opt-in:
/// <code>
/// "Telemetry": { "OtlpEndpoint": "http://otel-collector:4317" }
/// </code>
/// </summary>
public sealed record SiloTelemetryOptions
{
    /// <summary>An OpenTelemetry collector (gRPC, or HTTP/protobuf with <see cref="OtlpProtocol"/>); empty: no OTLP export.</summary>
    public string? OtlpEndpoint { get; init; }
    /// <summary><c>grpc</c> (default) or <c>http</c>.</summary>
    public string OtlpProtocol { get; init; } = "grpc";
}

/// <summary>
/// The Orleans Dashboard (keys under <c>Qst:Dashboard</c>): opt-in, on its own port so it can stay off the network the
/// probes and Prometheus use. Enable it on every silo (each with a free port): the dashboard reads per-silo counters from
/// each silo's dashboard service, so a silo without it shows no grain statistics.
/// <code>
/// "Dashboard": { "Port": 8081, "Address": "127.0.0.1" }
/// </code>
/// </summary>
public sealed record SiloDashboardOptions
{
    /// <summary>TCP port of the dashboard's web UI; 0 (default) turns the dashboard off.</summary>
    public int Port { get; init; }
    /// <summary>Listen address: loopback by default (the dashboard has no authentication; expose it deliberately).</summary>
    public string Address { get; init; } = "127.0.0.1";
}
