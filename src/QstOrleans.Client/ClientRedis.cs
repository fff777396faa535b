using QstOrleans.Contracts.Security;
using StackExchange.Redis;

namespace QstOrleans.Client;

/// <summary>The client's Redis connection options (<c>--redis</c>, and <c>--redis-ca</c> for a Redis over TLS with a private CA).</summary>
internal static class ClientRedis
{
    public const string CaOption = "--redis-ca";

    /// <summary>Parsed <paramref name="redis"/>; with <see cref="QstClientOptions.RedisCaFile"/>, the server's certificate must
    /// chain to that CA (<paramref name="ca"/> then says why one was refused).</summary>
    public static ConfigurationOptions Options(string redis, QstClientOptions client, out RedisCa? ca)
    {
        var options = ConfigurationOptions.Parse(redis);
        ca = string.IsNullOrWhiteSpace(client.RedisCaFile) ? null : RedisCa.Load(client.RedisCaFile, CaOption, redis, "--redis");
        if (ca is not null) options.CertificateValidation += ca.Validate;
        return options;
    }
}
