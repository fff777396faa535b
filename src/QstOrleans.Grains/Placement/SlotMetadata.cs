using System.Globalization;

namespace QstOrleans.Grains.Placement;

/// <summary>
/// How a silo publishes its device slots in Orleans silo metadata (one immutable string map per silo):
/// <c>qst.slots = "{silo}/cpu:0=8;{silo}/cpu:1=8"</c> (slot id = GiB of memory).
/// </summary>
public static class SlotMetadata
{
    public const string SlotsKey = "qst.slots";
    public const string SiloKey = "qst.silo";

    public static Dictionary<string, string> Encode(string siloName, IEnumerable<DeviceSlot> slots) => new()
    {
        [SiloKey] = siloName,
        [SlotsKey] = string.Join(';', slots.Select(s => $"{s.Id}={s.MemoryGiB.ToString(CultureInfo.InvariantCulture)}")),
    };

    public static IReadOnlyList<DeviceSlot> Decode(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(SlotsKey, out var text) || string.IsNullOrWhiteSpace(text)) return [];
        string silo = metadata.TryGetValue(SiloKey, out var s) ? s : "";
        var slots = new List<DeviceSlot>();
        foreach (var entry in text.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var (id, memory) = entry.Split('=') is [var i, var m] ? (i, double.Parse(m, CultureInfo.InvariantCulture)) : (entry, 0.0);
            string device = id.Contains('/') ? id[(id.LastIndexOf('/') + 1)..] : id;
            slots.Add(new DeviceSlot(id, silo, device, memory));
        }
        return slots;
    }
}
