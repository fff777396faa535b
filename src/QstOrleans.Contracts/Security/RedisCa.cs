using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace QstOrleans.Contracts.Security;

/// <summary>
/// A private CA for Redis over TLS (<c>ssl=true</c> in the connection string): silos set <c>Qst:RedisCaFile</c>, clients
/// <c>--redis-ca</c> (<c>QstClientOptions.RedisCaFile</c>). The Redis server's certificate
/// must chain to this CA, and only to it (not to the machine's store); host names are not checked, as for the cluster's own
/// TLS (<see cref="ClusterCertificates"/>). <c>deploy/make-certs.sh</c> makes such a CA and a certificate for Redis.
/// </summary>
public sealed class RedisCa
{
    RedisCa(X509Certificate2 ca, string path, string setting) => (Ca, Path, Setting) = (ca, path, setting);

    /// <summary>The trusted CA certificate.</summary>
    public X509Certificate2 Ca { get; }
    /// <summary>The CA file, for messages.</summary>
    public string Path { get; }
    /// <summary>The setting that named the file (<c>Qst:RedisCaFile</c>, <c>--redis-ca</c>), for messages.</summary>
    public string Setting { get; }
    /// <summary>Why the last server certificate was refused; null while none was. Tells a wrong CA from a wrong password.</summary>
    public string? Rejection { get; private set; }

    /// <summary>Loads the CA and checks it goes with <paramref name="connection"/> (which must ask for TLS with <c>ssl=true</c>).</summary>
    /// <exception cref="ArgumentException">No such file, not a PEM certificate, or no <c>ssl=true</c>; names <paramref name="setting"/>.</exception>
    public static RedisCa Load(string path, string setting, string connection, string connectionSetting)
    {
        if (!connection.Replace(" ", "").Contains("ssl=true", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"{setting}: set, but {connectionSetting} does not ask for TLS: add ,ssl=true to it (e.g. 127.0.0.1:6380,ssl=true)");
        if (!File.Exists(path)) throw new ArgumentException($"{setting}: file '{path}' does not exist");
        try { return new RedisCa(X509Certificate2.CreateFromPem(File.ReadAllText(path)), path, setting); }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{setting}: cannot load a CA certificate (PEM) from '{path}': {e.Message}", e);
        }
    }

    /// <summary>StackExchange.Redis' <c>ConfigurationOptions.CertificateValidation</c>: the server's certificate chains to <see cref="Ca"/>.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            Rejection = "the server sent no certificate";
            return false;
        }
        using var peer = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (PrivateCa.Signed(Ca, peer, out string why)) return true;
        Rejection = why;
        return false;
    }

    /// <summary>One line for a refused server certificate: names the setting and file, and what to do.</summary>
    public string RejectionMessage(string redis) =>
        $"{Setting}: the Redis server at {redis} presented a certificate that the CA in '{Path}' did not sign ({Rejection}); " +
        $"set {Setting} to the CA that signed the Redis server's certificate";
}
