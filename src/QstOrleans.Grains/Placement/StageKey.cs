namespace QstOrleans.Grains.Placement;

/// <summary>
/// Stage grain keys: <c>{model key}|{first}-{end}|{slot id}</c>. The model key identifies the weights
/// (directory + format), so every job that uses the same model, split and slots shares the stage grains;
/// the slot id decides where the grain is placed.
/// </summary>
public readonly record struct StageKey(string ModelKey, int First, int End, string SlotId)
{
    public override string ToString() => $"{ModelKey}|{First}-{End}|{SlotId}";

    public static StageKey Parse(string key)
    {
        var parts = key.Split('|');
        if (parts.Length != 3) throw new FormatException($"stage key '{key}' is not '{{model}}|{{first}}-{{end}}|{{slot}}'");
        var range = parts[1].Split('-');
        if (range.Length != 2 || !int.TryParse(range[0], out int first) || !int.TryParse(range[1], out int end))
            throw new FormatException($"stage key '{key}' has no valid layer range");
        return new StageKey(parts[0], first, end, parts[2]);
    }

    /// <summary>The slot id of a stage key, or null when the key is not a stage key.</summary>
    public static string? SlotOf(string key)
    {
        int bar = key.LastIndexOf('|');
        return bar < 0 ? null : key[(bar + 1)..];
    }
}
