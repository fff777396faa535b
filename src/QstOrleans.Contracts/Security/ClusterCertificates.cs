using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace QstOrleans.Contracts.Security;

/// <summary>
/// Where a silo's or client's TLS material lives: PEM files of its own certificate and private key, and of the cluster's
/// CA. Silos set them as <c>Qst:Tls:Certificate</c>, <c>Qst:Tls:Key</c>, <c>Qst:Tls:Ca</c>; clients as
/// <c>--tls-cert</c>/<c>--tls-key</c>/<c>--tls-ca</c> (or <c>QST_TLS_CERT</c>/<c>QST_TLS_KEY</c>/<c>QST_TLS_CA</c>).
/// <c>deploy/make-certs.sh</c> makes a CA and signs one certificate per silo and per client.
/// </summary>
public sealed record TlsFiles
{
    /// <summary>This side's certificate (PEM), signed by the cluster CA.</summary>
    public string? Certificate { get; init; }
    /// <summary>Its private key (PEM, unencrypted; keep the file mode 0600).</summary>
    public string? Key { get; init; }
    /// <summary>The cluster CA's certificate (PEM): every peer (silo or client) must present a certificate it signed.</summary>
    public string? Ca { get; init; }

    /// <summary>True when any of the three is set (then all three must be).</summary>
    public bool IsSet => !string.IsNullOrWhiteSpace(Certificate) || !string.IsNullOrWhiteSpace(Key) || !string.IsNullOrWhiteSpace(Ca);
}

/// <summary>
/// The loaded TLS material of one side of the cluster's connections, and the rule both sides apply to the other:
/// its certificate must chain to the cluster CA (only that CA is trusted, not the machine's store; names are not checked,
/// silos are reached by IP address). Mutual: silos require a certificate from every client and every other silo, so a
/// client without one signed by the cluster CA cannot connect at all.
/// </summary>
public sealed class ClusterCertificates : IDisposable
{
    ClusterCertificates(X509Certificate2 local, X509Certificate2 ca) => (Local, Ca) = (local, ca);

    /// <summary>This side's certificate with its private key.</summary>
    public X509Certificate2 Local { get; }
    /// <summary>The cluster CA: the only trust root for peers.</summary>
    public X509Certificate2 Ca { get; }

    /// <summary>Loads and checks the files; <paramref name="names"/> gives the setting name of each file for errors
    /// (e.g. ("Qst:Tls:Certificate", "Qst:Tls:Key", "Qst:Tls:Ca") or ("--tls-cert", "--tls-key", "--tls-ca")).</summary>
    /// <exception cref="ArgumentException">A file is missing, unreadable or not PEM, the key does not match, or the
    /// certificate is not signed by the CA or not valid now; the message names the setting and the path.</exception>
    public static ClusterCertificates Load(TlsFiles files, (string Certificate, string Key, string Ca) names)
    {
        string cert = Required(files.Certificate, names.Certificate), key = Required(files.Key, names.Key), ca = Required(files.Ca, names.Ca);
        X509Certificate2 local, authority;
        try { local = X509Certificate2.CreateFromPemFile(cert, key); }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ArgumentException($"{names.Certificate} / {names.Key}: cannot load a certificate and its private key from '{cert}' and '{key}': {e.Message}", e);
        }
        try { authority = X509Certificate2.CreateFromPem(File.ReadAllText(ca)); }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            local.Dispose();
            throw new ArgumentException($"{names.Ca}: cannot load a CA certificate from '{ca}': {e.Message}", e);
        }
        var certificates = new ClusterCertificates(Exportable(local), authority);
        local.Dispose();
        if (!certificates.Accepts(certificates.Local, out string why))
        {
            certificates.Dispose();
            throw new ArgumentException($"{names.Certificate}: '{cert}' is not usable with the CA in '{ca}': {why}");
        }
        return certificates;
    }

    /// <summary>Orleans' TLS settings for either side (<c>UseTls(Local, ConfigureMutualTls)</c> on a silo or client builder):
    /// present <see cref="Local"/>, require the peer's certificate, accept it only by <see cref="Accepts(X509Certificate2)"/>.</summary>
    public void ConfigureMutualTls(TlsOptions options)
    {
        options.LocalCertificate = Local;
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.RemoteCertificateValidation = (peer, _, _) => peer is not null && Accepts(peer);
        // SNI only: identity is "signed by the cluster CA", checked above, since silos are addressed by IP.
        options.OnAuthenticateAsClient = (_, ssl) => ssl.TargetHost = "qst-cluster";
    }

    /// <summary>True when <paramref name="peer"/> chains to the cluster CA and is valid now.</summary>
    public bool Accepts(X509Certificate2 peer) => Accepts(peer, out _);

    bool Accepts(X509Certificate2 peer, out string why) => PrivateCa.Signed(Ca, peer, out why);

    /// <summary>SslStream on Linux needs the key in a PKCS#12-backed certificate (an ephemeral PEM key works for clients only).</summary>
    static X509Certificate2 Exportable(X509Certificate2 pem) => X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);

    static string Required(string? path, string name)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException($"{name}: required when any TLS file is set (certificate, key and CA go together)");
        if (!File.Exists(path)) throw new ArgumentException($"{name}: file '{path}' does not exist");
        return path;
    }

    /// <summary>Frees both certificates.</summary>
    public void Dispose()
    {
        Local.Dispose();
        Ca.Dispose();
    }
}
