using QstOrleans.Grains.Hosting;

namespace QstOrleans.Grains.Jobs.Recovery;

/// <summary>
/// How a job recovers: how long one recovery keeps retrying, how many recoveries in a row without a completed step it
/// tolerates, the retry backoff (doubling from <see cref="FirstBackoff"/> up to <see cref="MaxBackoff"/>), and the
/// watchdog's stall and health-probe timeouts.
/// </summary>
public sealed record RecoveryPolicy(
    TimeSpan RecoveryTimeout, int MaxRecoveriesWithoutProgress, TimeSpan StallTimeout, TimeSpan HealthProbeTimeout,
    TimeSpan FirstBackoff, TimeSpan MaxBackoff)
{
    public static RecoveryPolicy From(QstSiloOptions silo) => new(silo.RecoveryTimeout, silo.MaxRecoveriesWithoutProgress, silo.StallTimeout,
        silo.HealthProbeTimeout, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(4));
}
