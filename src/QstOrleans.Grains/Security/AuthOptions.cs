namespace QstOrleans.Grains.Security;

/// <summary>
/// Client authentication (<c>Qst:Auth:*</c>). With <see cref="TokensFile"/> set, every call from an outside client must
/// carry a token listed there, jobs record their owner and users see and control only their own jobs. Unset: the cluster
/// is open to any client that reaches a gateway (one host, or a network you trust). The secured setup is TLS
/// (<c>Qst:Tls:*</c>) plus a tokens file: TLS keeps tokens off the wire in clear; <c>deploy/cluster-up.sh</c> makes both.
/// </summary>
public sealed class AuthOptions
{
    /// <summary>Path of the tokens file (see <see cref="Security.TokensFile"/>); re-read when it changes, so users can be
    /// added or revoked without restarting silos.</summary>
    public string? TokensFile { get; set; }

    /// <summary>How often the file's modification time is checked at most.</summary>
    public TimeSpan ReloadCheckPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Path of the cluster's secret (<see cref="ClusterKey"/>; every silo of the cluster reads the same file, clients
    /// never): silos prove their internal calls with it. Unset: internal calls are told by the caller's client id (one host).</summary>
    public string? ClusterKeyFile { get; set; }
}
