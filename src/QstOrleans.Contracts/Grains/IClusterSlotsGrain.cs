using QstOrleans.Contracts.Wire;

namespace QstOrleans.Contracts.Grains;

/// <summary>Reads the device slots every active silo declares (from silo metadata). Stateless.</summary>
public interface IClusterSlotsGrain : IGrainWithIntegerKey
{
    /// <summary>Every device slot the live silos declare.</summary>
    Task<IReadOnlyList<DeviceSlot>> List();
}
