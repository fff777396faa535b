using Orleans.Configuration;

namespace QstOrleans.Silo;

/// <summary>
/// How fast the cluster declares a silo dead (keys under <c>Qst:FailureDetection</c>). Every key left empty takes the
/// profile's value: <c>Qst:FastFailureDetection=true</c> (the default: one LAN, a few seconds) or Orleans' own defaults.
/// On slow or long links the probes queue behind tap messages on the same connection, so give them room, e.g.
/// <code>
/// "FailureDetection": { "ProbeTimeout": "00:00:10", "MissedProbesLimit": 3, "IAmAlivePeriod": "00:00:30" }   WAN: dead after ≈30 s
/// </code>
/// </summary>
public sealed record FailureDetectionOptions
{
    /// <summary>Period and timeout of one membership probe (fast: 2 s; Orleans: 5 s).</summary>
    public TimeSpan? ProbeTimeout { get; init; }
    /// <summary>Missed probes in a row after which a silo is suspected and voted dead (fast: 2; Orleans: 3).</summary>
    public int? MissedProbesLimit { get; init; }
    /// <summary>How often a silo writes its I-am-alive time to the membership table (fast: 5 s; Orleans: 30 s).</summary>
    public TimeSpan? IAmAlivePeriod { get; init; }

    /// <summary>The probe timeout in effect (used as the connect timeout of the start-up clash check too).</summary>
    public TimeSpan EffectiveProbeTimeout(bool fast) => ProbeTimeout ?? TimeSpan.FromSeconds(fast ? 2 : 5);

    /// <summary>Applies the profile, then the keys that are set.</summary>
    public void ApplyTo(ClusterMembershipOptions m, bool fast)
    {
        if (fast)
        {
            // A lost silo is noticed in a few seconds instead of about a minute (small clusters, one LAN).
            m.ProbeTimeout = TimeSpan.FromSeconds(2);
            m.NumMissedProbesLimit = 2;
            m.NumVotesForDeathDeclaration = 1;
            // A silo starting after a crash of the whole cluster first checks connectivity with every silo still marked
            // Active in the table, and only skips those whose IAmAlive is older than NumMissedTableIAmAliveLimit x this
            // period (30 s by default: a full restart waited over a minute). 5 s makes the dead entries stale in 10 s.
            m.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
        }
        if (ProbeTimeout is { } probe) m.ProbeTimeout = probe;
        if (MissedProbesLimit is { } missed) m.NumMissedProbesLimit = missed;
        if (IAmAlivePeriod is { } alive) m.IAmAliveTablePublishTimeout = alive;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the key of a value Orleans would misbehave with.</summary>
    public void Validate(string section)
    {
        string key = $"{section}:FailureDetection";
        if (ProbeTimeout is { } probe && probe <= TimeSpan.Zero)
            throw new ArgumentException($"{key}:ProbeTimeout: must be a positive time span (e.g. 00:00:10), got {probe}");
        if (MissedProbesLimit is { } missed && missed < 1)
            throw new ArgumentException($"{key}:MissedProbesLimit: must be at least 1, got {missed}");
        if (IAmAlivePeriod is { } alive && alive <= TimeSpan.Zero)
            throw new ArgumentException($"{key}:IAmAlivePeriod: must be a positive time span (e.g. 00:00:30), got {alive}");
    }
}
