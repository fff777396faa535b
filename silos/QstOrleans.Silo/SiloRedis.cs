using QstOrleans.Contracts.Security;
using StackExchange.Redis;

namespace QstOrleans.Silo;

/// <summary>
/// The silo's Redis connection options (<c>Qst:Redis</c>, and <c>Qst:RedisCaFile</c> for a Redis over TLS whose certificate a
/// private CA signed), for every use: clustering, grain state, reminders, the start-up check and readiness.
/// </summary>
public static class SiloRedis
{
    /// <summary>The setting naming the CA file.</summary>
    public const string CaSetting = "Qst:RedisCaFile";

    /// <summary>Parsed <see cref="SiloHostOptions.Redis"/>; with a CA file, the server's certificate must chain to it (<paramref name="ca"/>
    /// then says why one was refused).</summary>
    public static ConfigurationOptions Options(SiloHostOptions host, out RedisCa? ca)
    {
        var options = ConfigurationOptions.Parse(host.Redis!);
        ca = string.IsNullOrWhiteSpace(host.RedisCaFile) ? null : RedisCa.Load(host.RedisCaFile, CaSetting, host.Redis!, "Qst:Redis");
        if (ca is not null) options.CertificateValidation += ca.Validate;
        return options;
    }

    /// <summary><see cref="Options(SiloHostOptions, out RedisCa?)"/> where no message needs the CA.</summary>
    public static ConfigurationOptions Options(SiloHostOptions host) => Options(host, out _);
}
