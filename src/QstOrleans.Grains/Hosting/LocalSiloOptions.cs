namespace QstOrleans.Grains.Hosting;

/// <summary>
/// One silo of a cluster that runs on this machine only (<c>qst train --local</c>, <c>qst resume --local</c>,
/// <c>qst bench pipeline</c>), for <see cref="LocalSiloHost.AddQstLocal"/>. Job state and checkpoints live under
/// <see cref="StateDirectory"/>, so a later process on the same directory resumes its unfinished jobs.
/// </summary>
public sealed record LocalSiloOptions
{
    /// <summary>Root of the job state (<c>state/</c>) and the checkpoints (<c>checkpoints/</c>); made absolute by the host.</summary>
    public required string StateDirectory { get; init; }
    /// <summary>The silo's device slots, one per entry (<c>cpu:0</c>, <c>cuda:1</c>, …).</summary>
    public required IReadOnlyList<string> Devices { get; init; }
    /// <summary>Silo-to-silo port on 127.0.0.1.</summary>
    public required int SiloPort { get; init; }
    /// <summary>Client gateway port on 127.0.0.1.</summary>
    public required int GatewayPort { get; init; }
    /// <summary>The cluster id; silos of one local cluster share it.</summary>
    public required string ClusterId { get; init; }
    /// <summary>The silo's name (prefix of its slot ids).</summary>
    public string SiloName { get; init; } = "local";
    /// <summary>null: this silo is the primary (a standalone cluster). Otherwise the primary silo's port to join.</summary>
    public int? PrimarySiloPort { get; init; }
    /// <summary>Memory each slot declares to placement, GiB.</summary>
    public double SlotMemoryGiB { get; init; } = 8;
    /// <summary>Client authentication (<see cref="Security.AuthOptions"/>); default off, as <c>train --local</c> runs.</summary>
    public Security.AuthOptions Auth { get; init; } = new();
}
