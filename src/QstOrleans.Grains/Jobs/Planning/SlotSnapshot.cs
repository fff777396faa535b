namespace QstOrleans.Grains.Jobs.Planning;

/// <summary>
/// The cluster's device slots as read once in a grain turn, handed to <see cref="JobPlan.Build"/> where it asks the
/// slots grain: planning then runs on the thread pool without making grain calls from there.
/// </summary>
internal sealed class SlotSnapshot(IReadOnlyList<DeviceSlot> slots) : IClusterSlotsGrain
{
    public Task<IReadOnlyList<DeviceSlot>> List() => Task.FromResult(slots);
}
