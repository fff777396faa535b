namespace QstOrleans.Grains.Jobs;

/// <summary>One planned stage: layers [First, End) on a device slot.</summary>
public sealed record PlannedStage(int First, int End, DeviceSlot Slot);

/// <summary>
/// Splits N decoder layers into S contiguous stages on S distinct device slots, balanced by layer
/// count and slot memory: slots are taken largest-memory first, spreading over silos, and each stage
/// gets layers in proportion to its slot's memory (at least one each; remainders by largest fraction).
/// </summary>
public static class StagePlanner
{
    public static IReadOnlyList<PlannedStage> Plan(int layers, int stages, IReadOnlyList<DeviceSlot> slots)
    {
        if (stages < 1) throw new ArgumentException($"stages must be >= 1, got {stages}");
        if (stages > layers) throw new ArgumentException($"{stages} stages for a model with {layers} layers: each stage needs at least one layer");
        if (stages > slots.Count)
            throw new ArgumentException($"{stages} stages need {stages} device slots, but the cluster offers {slots.Count} ({string.Join(", ", slots.Select(s => s.Id))})");
        // Largest slots first; among equals, round-robin over silos so stages land on different hosts.
        var chosen = slots
            .GroupBy(s => s.Silo)
            .SelectMany(g => g.OrderByDescending(s => s.MemoryGiB).ThenBy(s => s.Id, StringComparer.Ordinal).Select((s, rank) => (s, rank)))
            .OrderByDescending(x => x.s.MemoryGiB).ThenBy(x => x.rank).ThenBy(x => x.s.Id, StringComparer.Ordinal)
            .Take(stages).Select(x => x.s).ToList();
        double total = chosen.Sum(s => Math.Max(s.MemoryGiB, 1e-9));
        var share = chosen.Select(s => Math.Max(s.MemoryGiB, 1e-9) / total * (layers - stages)).ToArray();
        var counts = share.Select(x => 1 + (int)Math.Floor(x)).ToArray();
        foreach (int i in Enumerable.Range(0, stages).OrderByDescending(i => share[i] - Math.Floor(share[i])).ThenBy(i => i))
        {
            if (counts.Sum() == layers) break;
            counts[i]++;
        }
        var plan = new List<PlannedStage>();
        int first = 0;
        for (int i = 0; i < stages; i++)
        {
            plan.Add(new PlannedStage(first, first + counts[i], chosen[i]));
            first += counts[i];
        }
        return plan;
    }
}
