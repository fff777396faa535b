namespace QstOrleans.Model.Metrics;

/// <summary>Process memory figures from /proc (Linux); native libtorch memory is invisible to the GC.</summary>
public static class ProcessMemory
{
    /// <summary>Peak resident set size (VmHWM) in bytes, or the GC's figure off Linux.</summary>
    public static long PeakResidentBytes() => ReadStatusKb("VmHWM:") is long kb ? kb * 1024 : Environment.WorkingSet;

    /// <summary>Current resident set size (VmRSS) in bytes.</summary>
    public static long ResidentBytes() => ReadStatusKb("VmRSS:") is long kb ? kb * 1024 : Environment.WorkingSet;

    static long? ReadStatusKb(string key)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return null;
        foreach (var line in File.ReadLines(status))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[0]);
        }
        return null;
    }
}
