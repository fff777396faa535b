using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using QstOrleans.Grains.Hosting;

namespace QstOrleans.Silo;

/// <summary>How the silo joins a cluster (keys under <c>Qst</c>, beside <see cref="QstSiloOptions"/>'s).</summary>
public sealed record SiloHostOptions
{
    /// <summary><c>localhost</c> (one machine, a primary silo) or <c>redis</c> (membership table in Redis).</summary>
    public string Clustering { get; init; } = "localhost";
    /// <summary>StackExchange.Redis connection string; required when <see cref="Clustering"/> is <c>redis</c>.</summary>
    public string? Redis { get; init; }
    /// <summary>Orleans cluster id: silos (and clients) with the same id and Redis form one cluster.</summary>
    public string ClusterId { get; init; } = "qst";
    /// <summary>
    /// Orleans service id: the namespace of grain state and reminders in Redis. Default: <see cref="ClusterId"/>, so two
    /// clusters sharing one Redis never see each other's jobs (clients derive it the same way).
    /// </summary>
    public string ServiceId { get => _serviceId ?? ClusterId; init => _serviceId = value; }
    readonly string? _serviceId;
    public int SiloPort { get; init; } = 11111;
    public int GatewayPort { get; init; } = 30000;
    /// <summary>Localhost clustering: the silo port of the primary silo (itself by default).</summary>
    public int? PrimarySiloPort { get; init; }
    /// <summary>
    /// Redis clustering: the address other silos and clients use to reach this one. Empty: the address of the interface
    /// that routes to the Redis server (127.0.0.1 only when Redis itself is on loopback). See <see cref="SiloAddressing"/>.
    /// </summary>
    public string? AdvertisedAddress { get; init; }
    /// <summary>Set by <see cref="SiloConfiguration.Read"/> (not a key): how <see cref="AdvertisedAddress"/> was chosen, for the log.</summary>
    public string AdvertisedAddressOrigin { get; internal init; } = "";
    /// <summary>Redis clustering: listen on every interface (multi-host) instead of the advertised address only.</summary>
    public bool ListenOnAnyHostAddress { get; init; }
    /// <summary>Faster failure detection (probe every 2 s, 2 missed probes) for small clusters on one LAN.</summary>
    public bool FastFailureDetection { get; init; } = true;
    /// <summary>Membership probe timing (<c>Qst:FailureDetection:*</c>); set keys override <see cref="FastFailureDetection"/>.</summary>
    public FailureDetectionOptions FailureDetection { get; init; } = new();
    /// <summary>Grain state (<c>Qst:State:*</c>): the provider behind <c>QstProviders.State</c>.</summary>
    public StateStorageOptions State { get; init; } = new();
    /// <summary>
    /// Reminder service: <c>memory</c> (this silo's memory; a whole-cluster restart forgets reminders) or <c>redis</c>
    /// (in <see cref="Redis"/>). Empty: redis with Redis clustering, else memory.
    /// </summary>
    public string? Reminders { get; init; }
    /// <summary>The HTTP port for health, readiness and metrics (<c>Qst:Http:*</c>).</summary>
    public Http.SiloHttpOptions Http { get; init; } = new();
    /// <summary>Metrics export besides <c>/metrics</c> (<c>Qst:Telemetry:*</c>).</summary>
    public Http.SiloTelemetryOptions Telemetry { get; init; } = new();
    /// <summary>Mutual TLS on silo-to-silo and client-to-gateway connections (<c>Qst:Tls:Certificate</c>, <c>:Key</c>, <c>:Ca</c>;
    /// PEM files, see deploy/make-certs.sh). Unset: plain TCP (one host, or a private network you trust).</summary>
    public QstOrleans.Contracts.Security.TlsFiles Tls { get; init; } = new();
    /// <summary>The Orleans Dashboard's web UI (<c>Qst:Dashboard:*</c>); off unless a port is set.</summary>
    public Http.SiloDashboardOptions Dashboard { get; init; } = new();
    /// <summary>Redis over TLS (<c>ssl=true</c> in <see cref="Redis"/>) with a private CA: that CA's certificate (PEM,
    /// <c>Qst:RedisCaFile</c>); the Redis server's certificate must chain to it. Unset: the machine's trusted CAs.</summary>
    public string? RedisCaFile { get; init; }
}

/// <summary>
/// Where the grains' small durable state lives (keys under <c>Qst:State</c>):
/// <code>
/// "State": { "Provider": "redis" }                                              clusters (uses Qst:Redis)
/// "State": { "Provider": "azure-table", "Table": "QstGrainState" }              Azure Table Storage (Orleans' provider)
/// "State": { "Provider": "azure-blob", "Container": "qst-state" }               Azure Blob Storage (Orleans' provider)
/// "State": { "Provider": "blob", "Store": "local", "Path": "/var/lib/qst/state" }  one host, survives restarts (own provider)
/// "State": { "Provider": "blob", "Store": "azure", "Container": "qst-state" }     own provider on Azure: kept for existing state
/// "State": { "Provider": "memory" }                                             tests only: lost with the silo
/// </code>
/// The Azure ones take <c>ConnectionString</c>, by default <c>Qst:Checkpoints:ConnectionString</c>.
/// </summary>
public sealed record StateStorageOptions
{
    /// <summary>
    /// <c>memory</c>, <c>redis</c>, <c>azure-table</c>, <c>azure-blob</c> (both <c>Microsoft.Orleans.Persistence.AzureStorage</c>)
    /// or <c>blob</c> (this project's provider, on a directory or an Azure container). Empty: redis with Redis clustering, else blob.
    /// </summary>
    public string? Provider { get; init; }
    /// <summary>Blob provider: <c>local</c> (a directory every silo of the cluster shares) or <c>azure</c>.</summary>
    public string Store { get; init; } = "local";
    /// <summary>Blob provider, local store: the directory (relative paths are under the working directory).</summary>
    public string Path { get; init; } = "state";
    /// <summary>azure-table, azure-blob, or blob with the azure store: the connection string (default: <c>Qst:Checkpoints:ConnectionString</c>).</summary>
    public string? ConnectionString { get; init; }
    /// <summary>azure-blob, or blob with the azure store: the container (created if missing).</summary>
    public string Container { get; init; } = "qst-state";
    /// <summary>azure-table: the table (created if missing; several clusters may share it, rows are keyed by service id).</summary>
    public string Table { get; init; } = "QstGrainState";
}

/// <summary>
/// Reads and checks the <c>Qst</c> section. Every problem is an <see cref="ArgumentException"/> whose
/// message starts with the configuration key (e.g. <c>Qst:Slots:1:Device</c>), so a typo in appsettings.json,
/// an environment variable or a command-line switch is reported where it was made.
/// </summary>
public static partial class SiloConfiguration
{
    public const string Section = "Qst";

    [GeneratedRegex(@"^(cpu|cuda):\d+$")]
    private static partial Regex DevicePattern();

    public static (SiloHostOptions Host, QstSiloOptions Silo) Read(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        SiloConfigurationKeys.CheckKnown(section, typeof(SiloHostOptions), typeof(QstSiloOptions));
        var host = Bind(section, new SiloHostOptions());
        // Bind into an empty slot list: the binder appends to a list that already holds the default slot.
        var silo = Bind(section, new QstSiloOptions { Slots = [] });
        if (silo.Slots.Count == 0) silo.Slots.Add(new SlotOptions());

        string clustering = host.Clustering.Trim().ToLowerInvariant();
        if (clustering is not ("localhost" or "redis"))
            throw new ArgumentException($"{Section}:Clustering: unknown value '{host.Clustering}' (use localhost or redis)");
        if (clustering == "redis" && string.IsNullOrWhiteSpace(host.Redis))
            throw new ArgumentException($"{Section}:Redis: a connection string (e.g. 127.0.0.1:6379) is required when {Section}:Clustering is redis");
        CheckPort("SiloPort", host.SiloPort);
        CheckPort("GatewayPort", host.GatewayPort);
        if (host.PrimarySiloPort is { } primary) CheckPort("PrimarySiloPort", primary);
        if (host.SiloPort == host.GatewayPort)
            throw new ArgumentException($"{Section}:GatewayPort: must differ from {Section}:SiloPort ({host.SiloPort})");
        if (string.IsNullOrWhiteSpace(host.ClusterId)) throw new ArgumentException($"{Section}:ClusterId must not be empty");
        if (string.IsNullOrWhiteSpace(host.ServiceId)) throw new ArgumentException($"{Section}:ServiceId must not be empty");
        if (string.IsNullOrWhiteSpace(silo.SiloName) || silo.SiloName.Contains('/') || silo.SiloName.Contains('|'))
            throw new ArgumentException($"{Section}:SiloName: '{silo.SiloName}' must be non-empty and contain no '/' or '|'");
        for (int i = 0; i < silo.Slots.Count; i++)
        {
            var slot = silo.Slots[i];
            if (!DevicePattern().IsMatch(slot.Device ?? ""))
                throw new ArgumentException($"{Section}:Slots:{i}:Device: '{slot.Device}' is not a device (use cpu:N or cuda:N)");
            if (!(slot.MemoryGiB > 0))
                throw new ArgumentException($"{Section}:Slots:{i}:MemoryGiB: must be positive, got {slot.MemoryGiB}");
        }
        var duplicate = silo.Slots.GroupBy(s => s.Device).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"{Section}:Slots: device '{duplicate.Key}' is declared twice");
        if (silo.MaxChunkBytes <= 0) throw new ArgumentException($"{Section}:MaxChunkBytes: must be positive, got {silo.MaxChunkBytes}");
        if (silo.MaxMessageBodyBytes < silo.MaxChunkBytes + (1 << 20))
            throw new ArgumentException($"{Section}:MaxMessageBodyBytes: {silo.MaxMessageBodyBytes} leaves no room for a {silo.MaxChunkBytes}-byte chunk plus headers");
        if (silo.Threads < 0) throw new ArgumentException($"{Section}:Threads: must be 0 (one per core) or a positive thread count, got {silo.Threads}");
        if (silo.StageQueueCapacity < 1) throw new ArgumentException($"{Section}:StageQueueCapacity: must be at least 1, got {silo.StageQueueCapacity}");
        // Recovery timing (job grains): a zero or negative period would spin or never detect a stall.
        foreach (var (name, value) in new[] { ("StallTimeout", silo.StallTimeout), ("HealthCheckPeriod", silo.HealthCheckPeriod), ("RecoveryTimeout", silo.RecoveryTimeout),
                     ("HealthProbeTimeout", silo.HealthProbeTimeout) })
            if (value <= TimeSpan.Zero) throw new ArgumentException($"{Section}:{name}: must be a positive time span (e.g. 00:01:00), got {value}");
        if (!(silo.MinLinkMbit >= 0) || double.IsInfinity(silo.MinLinkMbit))
            throw new ArgumentException($"{Section}:MinLinkMbit: must be a link rate in Mbit/s >= 0 (0 = fixed probe timeout), got {silo.MinLinkMbit}");
        if (silo.MaxRecoveriesWithoutProgress < 1)
            throw new ArgumentException($"{Section}:MaxRecoveriesWithoutProgress: must be at least 1, got {silo.MaxRecoveriesWithoutProgress}");
        if (silo.GrainDirectory.Trim().ToLowerInvariant() is not (GrainDirectories.Distributed or GrainDirectories.Partitioned))
            throw new ArgumentException($"{Section}:GrainDirectory: unknown value '{silo.GrainDirectory}' (use {GrainDirectories.Distributed} or {GrainDirectories.Partitioned})");
        host.FailureDetection.Validate(Section);
        silo.Roots.Validate($"{Section}:Roots");
        if (!string.IsNullOrWhiteSpace(silo.Auth.TokensFile)) QstOrleans.Grains.Security.TokensFile.Load(silo.Auth.TokensFile, $"{Section}:Auth:TokensFile");
        if (!string.IsNullOrWhiteSpace(host.RedisCaFile)) QstOrleans.Contracts.Security.RedisCa.Load(host.RedisCaFile, SiloRedis.CaSetting, host.Redis ?? "", $"{Section}:Redis");
        if (!string.IsNullOrWhiteSpace(silo.Auth.ClusterKeyFile)) QstOrleans.Grains.Security.ClusterKey.Load(silo.Auth.ClusterKeyFile, $"{Section}:Auth:ClusterKeyFile");
        CheckHttp(host);
        host = host with { Clustering = clustering };
        if (clustering == "redis")
        {
            var (address, origin) = SiloAddressing.Resolve(host.AdvertisedAddress, host.Redis!, Section);
            host = host with { AdvertisedAddress = address.ToString(), AdvertisedAddressOrigin = origin };
        }
        CheckCheckpoints(silo.Checkpoints);
        host = host with { State = ReadState(host, silo.Checkpoints), Reminders = ReadReminders(host) };
        return (host, silo);
    }

    static T Bind<T>(IConfigurationSection section, T target)
    {
        try
        {
            section.Bind(target);
            return target;
        }
        catch (InvalidOperationException e)
        {
            // The binder's message names the key ("Failed to convert configuration value at 'Qst:SiloPort' ...").
            throw new ArgumentException(e.Message, e);
        }
    }

    static void CheckHttp(SiloHostOptions host)
    {
        var http = host.Http;
        if (http.Port != 0) CheckPort("Http:Port", http.Port);
        if (http.Port != 0 && (http.Port == host.SiloPort || http.Port == host.GatewayPort))
            throw new ArgumentException($"{Section}:Http:Port: {http.Port} is already the silo or gateway port");
        if (!System.Net.IPAddress.TryParse(http.Address, out _))
            throw new ArgumentException($"{Section}:Http:Address: '{http.Address}' is not an IP address (0.0.0.0 listens on every interface)");
        var dashboard = host.Dashboard;
        if (dashboard.Port != 0) CheckPort("Dashboard:Port", dashboard.Port);
        if (dashboard.Port != 0 && (dashboard.Port == host.SiloPort || dashboard.Port == host.GatewayPort || dashboard.Port == http.Port))
            throw new ArgumentException($"{Section}:Dashboard:Port: {dashboard.Port} is already the silo, gateway or HTTP port");
        if (!System.Net.IPAddress.TryParse(dashboard.Address, out _))
            throw new ArgumentException($"{Section}:Dashboard:Address: '{dashboard.Address}' is not an IP address (0.0.0.0 listens on every interface)");
        var telemetry = host.Telemetry;
        if (!string.IsNullOrWhiteSpace(telemetry.OtlpEndpoint)
            && !(Uri.TryCreate(telemetry.OtlpEndpoint, UriKind.Absolute, out var otlp) && otlp.Scheme is "http" or "https"))
            throw new ArgumentException($"{Section}:Telemetry:OtlpEndpoint: '{telemetry.OtlpEndpoint}' is not an http(s) URL (e.g. http://collector:4317)");
        if (telemetry.OtlpProtocol is not ("grpc" or "http"))
            throw new ArgumentException($"{Section}:Telemetry:OtlpProtocol: unknown value '{telemetry.OtlpProtocol}' (use grpc or http)");
    }

    static void CheckPort(string key, int port)
    {
        if (port is < 1 or > 65535) throw new ArgumentException($"{Section}:{key}: port {port} is outside 1..65535");
    }
}
