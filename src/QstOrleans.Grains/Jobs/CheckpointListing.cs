using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Grains.Jobs;

/// <summary>The committed checkpoints of a store as <see cref="CheckpointInfo"/> rows (for <c>qst checkpoints</c>).</summary>
public static class CheckpointListing
{
    /// <summary>Oldest first; a checkpoint whose manifest is unreadable is listed with size 0 and its step.</summary>
    public static async Task<IReadOnlyList<CheckpointInfo>> List(CheckpointStore store)
    {
        var steps = await store.ListStepsAsync();
        var pointer = await store.ReadPointerAsync();
        var rows = new List<CheckpointInfo>();
        foreach (long step in steps)
        {
            CheckpointManifest? manifest = null;
            try { manifest = await store.ReadManifestAsync(step); }
            catch (CheckpointCorruptException) { }
            rows.Add(new CheckpointInfo(step, manifest?.CreatedUtc ?? DateTimeOffset.MinValue, manifest?.TotalBytes ?? 0,
                pointer?.Step == step, $"{store.Location}/{step:D12}"));
        }
        return rows;
    }
}
