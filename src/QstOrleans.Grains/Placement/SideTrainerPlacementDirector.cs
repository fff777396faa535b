using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace QstOrleans.Grains.Placement;

/// <summary>
/// Orleans placement director for side trainers. "Room" in the slot model: a silo has room for a job's side trainer when
/// it publishes a device slot that none of the job's stages occupies (the side network trains, so it takes a device of
/// its own, as a stage does; a silo's slots are its devices, <see cref="SlotMetadata"/>). The choice, from the activating
/// call's hint (<see cref="SideTrainerPlacement.WithHint"/>):
/// <list type="number">
/// <item>the silo of the last stage's slot, if it has room: ĥ and the last stage's taps then stay on the host;</item>
/// <item>else the silo with the most free slots (ties: silo name, ordinal), so the side trainer does not crowd a stage;</item>
/// <item>else (no free slot anywhere, or an activation without a hint, e.g. a probe reaching a trainer whose silo died) a
/// random compatible silo, as Orleans' random placement does.</item>
/// </list>
/// </summary>
public sealed class SideTrainerPlacementDirector(ISiloMetadataCache metadata) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        if (silos.Length == 0) throw new SiloUnavailableException($"no compatible silo for side trainer '{target.GrainIdentity}'");
        if (target.RequestContextData is { } hint
            && hint.TryGetValue(SideTrainerPlacement.LastStageSlotKey, out var near) && near is string lastSlot
            && hint.TryGetValue(SideTrainerPlacement.UsedSlotsKey, out var used) && used is string usedSlots)
        {
            var choice = Choose(silos.Select(s => (s, SlotMetadata.Decode(metadata.GetSiloMetadata(s).Metadata))).ToList(),
                lastSlot, usedSlots.Split(';').ToHashSet(StringComparer.Ordinal));
            if (choice is not null) return Task.FromResult(choice);
        }
        return Task.FromResult(silos[Random.Shared.Next(silos.Length)]);
    }

    /// <summary>Rules 1 and 2 over the silos and the slots each publishes; null when no silo has a free slot.</summary>
    public static T? Choose<T>(IReadOnlyList<(T Silo, IReadOnlyList<DeviceSlot> Slots)> silos, string lastStageSlot, IReadOnlySet<string> usedSlots)
        where T : class
    {
        int Free(IReadOnlyList<DeviceSlot> slots) => slots.Count(s => !usedSlots.Contains(s.Id));
        var near = silos.FirstOrDefault(s => s.Slots.Any(slot => slot.Id == lastStageSlot));
        if (near.Silo is not null && Free(near.Slots) > 0) return near.Silo;
        var roomy = silos.Where(s => Free(s.Slots) > 0)
            .OrderByDescending(s => Free(s.Slots)).ThenBy(s => s.Slots[0].Silo, StringComparer.Ordinal).ToList();
        return roomy.Count > 0 ? roomy[0].Silo : null;
    }
}
