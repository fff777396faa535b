using QstOrleans.Grains.Hosting;

namespace QstOrleans.Grains.Jobs.Recovery;

/// <summary>
/// How a job recovers: how long one recovery keeps retrying, how many recoveries in a row without a completed step it
/// tolerates, the retry backoff (doubling from <see cref="FirstBackoff"/> up to <see cref="MaxBackoff"/>), and the
/// watchdog's stall and health-probe timeouts (the latter scaled by the bytes in flight on links of at least
/// <see cref="MinLinkMbit"/>, <see cref="ProbeBudget"/>; 0 = fixed).
/// </summary>
public sealed record RecoveryPolicy(
    TimeSpan RecoveryTimeout, int MaxRecoveriesWithoutProgress, TimeSpan StallTimeout, TimeSpan HealthProbeTimeout,
    TimeSpan FirstBackoff, TimeSpan MaxBackoff, double MinLinkMbit = 0)
{
    public static RecoveryPolicy From(QstSiloOptions silo) => new(silo.RecoveryTimeout, silo.MaxRecoveriesWithoutProgress, silo.StallTimeout,
        silo.HealthProbeTimeout, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(4), silo.MinLinkMbit);

    /// <summary>The probe timeout with <paramref name="bytesInFlight"/> possibly queued ahead of the probe.</summary>
    public TimeSpan ProbeTimeout(long bytesInFlight) => ProbeBudget.Timeout(HealthProbeTimeout, MinLinkMbit, bytesInFlight);
}
