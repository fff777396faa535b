using Orleans.Metadata;
using Orleans.Placement;
using Orleans.Runtime;

namespace QstOrleans.Grains.Placement;

/// <summary>Places a stage grain on the silo that declares the device slot named in its key.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class DeviceSlotPlacement : PlacementStrategy
{
    public static DeviceSlotPlacement Instance { get; } = new();
}

/// <summary>Marks a grain class for <see cref="DeviceSlotPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class DeviceSlotPlacementAttribute() : PlacementAttribute(DeviceSlotPlacement.Instance);
