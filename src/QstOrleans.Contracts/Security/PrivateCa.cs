using System.Security.Cryptography.X509Certificates;

namespace QstOrleans.Contracts.Security;

/// <summary>
/// "Signed by this CA and valid now", the one trust rule of every TLS peer here: the cluster's silos and clients
/// (<see cref="ClusterCertificates"/>) and a Redis server (<see cref="RedisCa"/>). Only the given CA is trusted (not the
/// machine's store), host names are not checked (silos are addressed by IP), and there is no revocation check (a test CA
/// has no CRL; rotate by re-issuing the CA).
/// </summary>
internal static class PrivateCa
{
    /// <summary>True when <paramref name="peer"/> chains to <paramref name="ca"/>; else <paramref name="why"/> says what failed.</summary>
    public static bool Signed(X509Certificate2 ca, X509Certificate2 peer, out string why)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        bool ok = chain.Build(peer) && chain.ChainElements[^1].Certificate.Thumbprint == ca.Thumbprint;
        why = ok ? "" : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("not signed by this CA"));
        return ok;
    }
}
