using QstOrleans.Client;

namespace QstOrleans.Cli.Cluster;

/// <summary>
/// The connection options every cluster command shares (<c>--gateway</c>, <c>--redis</c>, <c>--cluster-id</c>,
/// <c>--service-id</c>, <c>--tls-cert/-key/-ca</c>, <c>--token</c>), with environment fallbacks <c>QST_GATEWAY</c>, <c>QST_REDIS</c>, <c>QST_CLUSTER_ID</c>, <c>QST_TLS_*</c>, <c>QST_TOKEN</c>,
/// and the error mapping for cluster commands: bad input → "error: …" and exit 2, an unreachable or
/// failing cluster → "error: …" and exit 3.
/// </summary>
internal sealed class ClusterConnection
{
    public Option<int[]> Gateway { get; } = new("--gateway")
    {
        Description = "Gateway port(s) of silos on this machine (localhost clustering); env QST_GATEWAY",
        AllowMultipleArgumentsPerToken = true,
    };
    public Option<string?> Redis { get; } = new("--redis") { Description = "Redis connection string of the cluster's membership table, e.g. 127.0.0.1:6379; env QST_REDIS" };
    public Option<string?> ClusterId { get; } = new("--cluster-id") { Description = $"Orleans cluster id (default {QstClientOptions.DefaultClusterId}); env QST_CLUSTER_ID" };
    public Option<string?> ServiceId { get; } = new("--service-id") { Description = "Orleans service id (default: the cluster id, as the silos derive it)" };
    public Option<string?> TlsCertificate { get; } = new("--tls-cert") { Description = "This client's certificate (PEM) for a TLS cluster, signed by the cluster CA; env QST_TLS_CERT" };
    public Option<string?> TlsKey { get; } = new("--tls-key") { Description = "Its private key (PEM); env QST_TLS_KEY" };
    public Option<string?> TlsCa { get; } = new("--tls-ca") { Description = "The cluster CA's certificate (PEM); env QST_TLS_CA" };
    public Option<string?> RedisCa { get; } = new("--redis-ca") { Description = "The CA certificate (PEM) that signed the Redis server's certificate, for --redis with ssl=true and a private CA; env QST_REDIS_CA" };
    public Option<string?> Token { get; } = new("--token") { Description = "This user's token when the silos require one (Qst:Auth:TokensFile); prefer env QST_TOKEN (a command line is visible to other users)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Gateway);
        command.Options.Add(Redis);
        command.Options.Add(ClusterId);
        command.Options.Add(ServiceId);
        command.Options.Add(TlsCertificate);
        command.Options.Add(TlsKey);
        command.Options.Add(TlsCa);
        command.Options.Add(Token);
        command.Options.Add(RedisCa);
    }

    /// <summary>The client options the command line (or the environment) describes; null when no cluster is configured.</summary>
    public QstClientOptions? Resolve(ParseResult p)
    {
        int[] ports = p.GetValue(Gateway) ?? [];
        if (ports.Length == 0 && Environment.GetEnvironmentVariable("QST_GATEWAY") is { Length: > 0 } envPorts)
            ports = envPorts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => int.TryParse(s, out int port) ? port : throw new ArgumentException($"QST_GATEWAY: '{s}' is not a port number"))
                .ToArray();
        string? redis = p.GetValue(Redis) ?? NonEmpty(Environment.GetEnvironmentVariable("QST_REDIS"));
        if (ports.Length == 0 && redis is null) return null;
        var options = new QstClientOptions
        {
            GatewayPorts = ports,
            RedisConnectionString = redis,
            ClusterId = p.GetValue(ClusterId) ?? NonEmpty(Environment.GetEnvironmentVariable("QST_CLUSTER_ID")) ?? QstClientOptions.DefaultClusterId,
        };
        if (p.GetValue(ServiceId) is { } serviceId) options = options with { ServiceId = serviceId };
        var tls = new QstOrleans.Contracts.Security.TlsFiles
        {
            Certificate = p.GetValue(TlsCertificate) ?? NonEmpty(Environment.GetEnvironmentVariable("QST_TLS_CERT")),
            Key = p.GetValue(TlsKey) ?? NonEmpty(Environment.GetEnvironmentVariable("QST_TLS_KEY")),
            Ca = p.GetValue(TlsCa) ?? NonEmpty(Environment.GetEnvironmentVariable("QST_TLS_CA")),
        };
        if (tls.IsSet) options = options with { Tls = tls };
        if ((p.GetValue(Token) ?? Environment.GetEnvironmentVariable("QST_TOKEN")) is { Length: > 0 } token) options = options with { Token = token };
        if ((p.GetValue(RedisCa) ?? NonEmpty(Environment.GetEnvironmentVariable("QST_REDIS_CA"))) is { } redisCa) options = options with { RedisCaFile = redisCa };
        options.Validate();
        return options;
    }

    /// <summary>Connects to the configured cluster; without one, throws an error that says how to give one.</summary>
    public async Task<QstClient> ConnectAsync(ParseResult p, CancellationToken cancel)
    {
        var options = Resolve(p)
            ?? throw new ArgumentException("no cluster given: use --gateway PORT or --redis HOST:PORT (or set QST_GATEWAY / QST_REDIS)");
        return await QstClient.ConnectAsync(options, cancel);
    }

    static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    /// <summary>Runs a cluster command, turning input and connection errors into one line on stderr (<see cref="CliErrors"/>).</summary>
    public static Task<int> RunAsync(Func<Task<int>> action) => CliErrors.RunAsync(action);
}
