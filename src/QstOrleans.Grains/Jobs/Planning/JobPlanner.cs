using System.Security.Cryptography;
using System.Text;
using QstOrleans.Grains.Placement;

namespace QstOrleans.Grains.Jobs.Planning;

/// <summary>
/// Plans jobs for every job grain of a silo (a DI singleton). The expensive part of <see cref="JobPlan.Build"/> -
/// reading and tokenizing the data - runs on the thread pool (<see cref="Task.Run(Func{Task})"/>), never on a grain's
/// scheduler; the grain awaits the result in its turn. The plan is cached (<see cref="JobPlanCache"/>) under the whole
/// spec's hash and the data file's identity (full path, size, last write time), so a recovery or a resume re-uses it.
/// The whole spec, not just its training part: <see cref="JobPlan.Build"/> also validates the layout fields (window,
/// checkpoint intervals), and a hit must mean that exactly this spec passed. Only the stage placement is redone per
/// request, over the slots live now.
/// </summary>
public sealed class JobPlanner(JobPlanCache cache, Func<JobSpec, IReadOnlyList<DeviceSlot>, Task<JobPlan>>? build = null)
{
    readonly Func<JobSpec, IReadOnlyList<DeviceSlot>, Task<JobPlan>> _build = build ?? BuildFull;

    /// <summary>
    /// The plan of <paramref name="spec"/> placed on <paramref name="live"/>. <paramref name="fitToSlots"/>: use fewer
    /// stages than asked when fewer slots are left (recovery). Throws what <see cref="JobPlan.Build"/> throws for bad input.
    /// </summary>
    public async Task<JobPlan> PlanAsync(JobSpec spec, IReadOnlyList<DeviceSlot> live, bool fitToSlots)
    {
        // Built with fitToSlots so that the data part is cached even when this request's placement is refused below.
        var data = await cache.GetOrAdd(KeyOf(spec), () => Task.Run(() => _build(spec, live)));
        return Place(data, live, fitToSlots);
    }

    /// <summary>Forgets this silo's cached plans (tests: a recovery then has to plan from the token cache).</summary>
    public void ForgetPlans() => cache.Clear();

    /// <summary>The cache key: the spec, and which data file (by identity) the batches came from.</summary>
    public static string KeyOf(JobSpec spec) => $"{JobSpecHash.OfRequest(spec)}|{DataFileIdentity(spec.DataFile)}";

    static string DataFileIdentity(string path)
    {
        var file = new FileInfo(path);
        string identity = file.Exists ? $"{file.FullName}|{file.Length}|{file.LastWriteTimeUtc.Ticks}" : $"{file.FullName}|missing";
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..16].ToLowerInvariant();
    }

    static Task<JobPlan> BuildFull(JobSpec spec, IReadOnlyList<DeviceSlot> live) => JobPlan.Build(spec, new SlotSnapshot(live), fitToSlots: true);

    /// <summary>Places the plan's stages on <paramref name="live"/>, as <see cref="JobPlan.Build"/> does.</summary>
    static JobPlan Place(JobPlan plan, IReadOnlyList<DeviceSlot> live, bool fitToSlots)
    {
        var spec = plan.Spec;
        int stageCount = fitToSlots ? Math.Max(1, Math.Min(spec.Stages, live.Count)) : spec.Stages;
        var stages = StagePlanner.Plan(plan.Model.NumLayers, stageCount, live);
        string modelKey = JobPlan.ModelKey(spec);
        var keys = stages.Select(s => new StageKey(modelKey, s.First, s.End, s.Slot.Id).ToString()).ToList();
        return plan with { Stages = stages, StageKeys = keys };
    }
}
