using System.Security.Cryptography;
using System.Text;

namespace QstOrleans.Grains.Security;

/// <summary>
/// The secret only the cluster's silos hold (<c>Qst:Auth:ClusterKeyFile</c>, made by <c>deploy/cluster-up.sh</c>): every grain
/// call a silo makes carries it in the request context (<see cref="ClusterKeyStamp"/>), and a silo takes a call for the
/// cluster's own only when it carries the key (<see cref="ClusterKeyCheck"/>), whatever the caller names itself. Without a
/// key file (<see cref="None"/>: <c>--local</c>, tests) the old rule holds: a call is the cluster's own unless its source is an
/// Orleans client whose id does not start with <c>hosted-</c> (an id the client picks, so only trust it on one host).
/// </summary>
public sealed class ClusterKey
{
    /// <summary>Request-context key of the secret, set by silos on their outgoing calls and removed by the receiving silo.</summary>
    internal const string ContextKey = "qst-cluster-key";
    /// <summary>Request-context key the receiving silo sets (and removes from anything else) when the secret matched.</summary>
    internal const string VerifiedKey = "qst-cluster-call";
    /// <summary>Fewest characters a key file must hold (e.g. <c>openssl rand -hex 32</c> gives 64).</summary>
    public const int MinimumLength = 32;

    readonly byte[]? _hash;   // SHA-256 of the key: compared in constant time, the same length whatever a caller sends

    ClusterKey(string? value) => (Value, _hash) = (value, value is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(value)));

    /// <summary>No key file: the cluster trusts the client ids (see the class summary).</summary>
    public static ClusterKey None { get; } = new(null);

    /// <summary>The secret as stamped on outgoing calls; null for <see cref="None"/>.</summary>
    internal string? Value { get; }

    /// <summary>True when silos prove their calls with a key.</summary>
    public bool IsSet => _hash is not null;

    /// <summary>Reads the key file (first line, trimmed). <paramref name="setting"/> names it in errors; its content is never shown.</summary>
    /// <exception cref="ArgumentException">The file is missing, unreadable, empty or shorter than <see cref="MinimumLength"/>.</exception>
    public static ClusterKey Load(string path, string setting = "Qst:Auth:ClusterKeyFile")
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ArgumentException($"{setting}: cannot read '{path}': {e.Message}", e);
        }
        string key = text.Split('\n')[0].Trim();
        if (key.Length < MinimumLength)
            throw new ArgumentException($"{setting}: '{path}' must hold a secret of at least {MinimumLength} characters on its first line " +
                $"(found {key.Length}; make one with: openssl rand -hex 32 > {path}; chmod 600 {path})");
        return new ClusterKey(key);
    }

    /// <summary>True when <paramref name="presented"/> is this key (constant time in its content).</summary>
    internal bool Matches(object? presented)
    {
        if (_hash is null || presented is not string text) return false;
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), hash);
        return CryptographicOperations.FixedTimeEquals(hash, _hash);
    }

    /// <summary>
    /// Whether the current incoming call is the cluster's own. With a key: <see cref="ClusterKeyCheck"/> verified it for this
    /// call (or, when <paramref name="trustGrainSources"/>, its source is a grain or system target rather than a client).
    /// Without: the old rule on the source's client id.
    /// </summary>
    internal bool IsClusterCall(IIncomingGrainCallContext context, bool trustGrainSources = false)
    {
        bool client = context.SourceId is { } source && source.Type.ToString() == "sys.client";
        if (!IsSet) return !client || context.SourceId!.Value.Key.ToString().StartsWith("hosted-", StringComparison.Ordinal);
        return RequestContext.Get(VerifiedKey) is true || (trustGrainSources && context.SourceId is not null && !client);
    }
}
