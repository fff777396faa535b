using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace QstOrleans.Grains.Placement;

/// <summary>
/// Orleans placement director for stage grains: reads the slot id from the grain key and picks the
/// compatible silo whose published metadata (<see cref="SlotMetadata"/>) lists that slot. A key naming a
/// slot no live silo offers fails the activation with a message naming the slot, as a
/// <see cref="SiloUnavailableException"/>: the slot's silo is gone, which a job treats as a fault to recover from.
/// </summary>
public sealed class DeviceSlotPlacementDirector(ISiloMetadataCache metadata) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        string key = target.GrainIdentity.Key.ToString()!;
        string slot = StageKey.SlotOf(key) ?? throw new InvalidOperationException($"grain key '{key}' names no device slot");
        foreach (var silo in context.GetCompatibleSilos(target))
        {
            var published = metadata.GetSiloMetadata(silo).Metadata;
            if (SlotMetadata.Decode(published).Any(s => s.Id == slot)) return Task.FromResult(silo);
        }
        throw new SiloUnavailableException($"no live silo offers device slot '{slot}' (needed by stage '{key}')");
    }
}
