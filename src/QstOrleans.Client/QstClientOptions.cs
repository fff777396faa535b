namespace QstOrleans.Client;

/// <summary>
/// How a <see cref="QstClient"/> finds the cluster: either the gateway port(s) of silos on this machine
/// (localhost clustering) or a Redis connection string (Redis clustering, the multi-host setup).
/// Exactly one of <see cref="GatewayPorts"/> and <see cref="RedisConnectionString"/> must be set.
/// </summary>
public sealed record QstClientOptions
{
    /// <summary>Gateway ports of silos on 127.0.0.1 (localhost clustering).</summary>
    public IReadOnlyList<int> GatewayPorts { get; init; } = [];
    /// <summary>StackExchange.Redis connection string, e.g. <c>127.0.0.1:6379</c> (Redis clustering).</summary>
    public string? RedisConnectionString { get; init; }
    /// <summary>Orleans cluster id the silos were started with (<c>Qst:ClusterId</c>); default <see cref="DefaultClusterId"/>.</summary>
    public string ClusterId { get; init; } = DefaultClusterId;
    /// <summary>Orleans service id; default <see cref="ClusterId"/>, as the silos derive it (<c>Qst:ServiceId</c>).</summary>
    public string ServiceId { get => _serviceId ?? ClusterId; init => _serviceId = value; }
    readonly string? _serviceId;
    /// <summary>Mutual TLS material when the cluster's silos use TLS (<c>Qst:Tls:*</c>): a certificate signed by the cluster CA.</summary>
    public QstOrleans.Contracts.Security.TlsFiles? Tls { get; init; }
    /// <summary>How long to keep trying to reach a gateway before giving up.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>With gateway ports: how long to wait for any of them to accept a TCP connection (silos still starting)
    /// before failing with <see cref="ConnectionProblem.NoSilo"/>; at most <see cref="ConnectTimeout"/>.</summary>
    public TimeSpan NoSiloGrace { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>This client's token when the silos require one (<c>Qst:Auth:TokensFile</c>): sent with every call, verified
    /// by the gateway silo, never stored there. Use it with <see cref="Tls"/> so it never crosses the network in clear.
    /// A cluster that refuses it throws <see cref="QstOrleans.Contracts.Security.QstAccessDeniedException"/>.</summary>
    public string? Token { get; init; }
    /// <summary>For a Redis over TLS (<c>ssl=true</c> in <see cref="RedisConnectionString"/>) whose certificate a private CA signed:
    /// that CA's certificate (PEM; <c>--redis-ca</c>, <c>QST_REDIS_CA</c>), the only one trusted for the Redis server.</summary>
    public string? RedisCaFile { get; init; }

    /// <summary>The silos' default cluster id.</summary>
    public const string DefaultClusterId = "qst";

    /// <summary>The client's names of the three TLS files, for error messages.</summary>
    public static readonly (string Certificate, string Key, string Ca) TlsOptionNames = ("--tls-cert", "--tls-key", "--tls-ca");

    /// <summary>Throws <see cref="ArgumentException"/> naming the option when the options are inconsistent.</summary>
    public void Validate()
    {
        bool gateways = GatewayPorts.Count > 0, redis = !string.IsNullOrWhiteSpace(RedisConnectionString);
        if (gateways == redis)
            throw new ArgumentException(gateways
                ? "give either gateway ports (--gateway) or a Redis connection string (--redis), not both"
                : "no cluster given: set gateway ports (--gateway) or a Redis connection string (--redis)");
        foreach (int port in GatewayPorts)
            if (port is < 1 or > 65535) throw new ArgumentException($"--gateway: port {port} is outside 1..65535");
        if (string.IsNullOrWhiteSpace(ClusterId)) throw new ArgumentException("--cluster-id must not be empty");
        if (string.IsNullOrWhiteSpace(ServiceId)) throw new ArgumentException("--service-id must not be empty");
        if (Token is not null && (Token.Length == 0 || Token.Any(char.IsWhiteSpace)))
            throw new ArgumentException("--token (QST_TOKEN): the token must be non-empty and contain no spaces");
        // Bad TLS files are bad input: say so before any connection is tried (which would only time out).
        if (Tls is { IsSet: true } tls) QstOrleans.Contracts.Security.ClusterCertificates.Load(tls, TlsOptionNames).Dispose();
        if (!string.IsNullOrWhiteSpace(RedisCaFile))
            QstOrleans.Contracts.Security.RedisCa.Load(RedisCaFile, "--redis-ca", redis ? RedisConnectionString! : throw new ArgumentException("--redis-ca: only with --redis"), "--redis");
    }

    // The record's ToString, without secrets: options end up in logs and exception messages.
    bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"GatewayPorts = [{string.Join(", ", GatewayPorts)}], RedisConnectionString = {Redact(RedisConnectionString)}, ");
        builder.Append($"ClusterId = {ClusterId}, ServiceId = {ServiceId}, Tls = {Tls}, ConnectTimeout = {ConnectTimeout}, ");
        builder.Append($"NoSiloGrace = {NoSiloGrace}, Token = {(Token is null ? "(none)" : "(set)")}");
        return true;
    }

    static string? Redact(string? redis) => redis is null ? null : QstOrleans.Contracts.Security.RedisSecrets.Redact(redis);
}
