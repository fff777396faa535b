using QstOrleans.Contracts.Wire;

namespace QstOrleans.Contracts.Grains;

/// <summary>Reads the device slots every active silo declares (from silo metadata). Stateless.</summary>
public interface IClusterSlotsGrain : IGrainWithIntegerKey
{
    Task<IReadOnlyList<DeviceSlot>> List();
}
