using Orleans.Concurrency;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using QstOrleans.Grains.Placement;

namespace QstOrleans.Grains.Jobs;

/// <summary>Lists the device slots of every active silo, from Orleans membership and silo metadata.</summary>
[StatelessWorker]
public sealed class ClusterSlotsGrain(IClusterMembershipService membership, ISiloMetadataCache metadata) : Grain, IClusterSlotsGrain
{
    public Task<IReadOnlyList<DeviceSlot>> List()
    {
        var slots = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .SelectMany(m => SlotMetadata.Decode(metadata.GetSiloMetadata(m.SiloAddress).Metadata))
            .OrderBy(s => s.Id, StringComparer.Ordinal)
            .ToList();
        return Task.FromResult<IReadOnlyList<DeviceSlot>>(slots);
    }
}
