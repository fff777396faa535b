using System.Globalization;

namespace QstOrleans.Model.Metrics;

/// <summary>
/// The process's minor page faults (<c>minflt</c>, field 10 of <c>/proc/self/stat</c>): each is a page the kernel mapped in on
/// first touch, e.g. memory glibc just obtained with mmap. A benchmark reads it before and after the timed steps; a steady-state
/// step that reuses its buffers faults few pages (see <c>Devices/NativeAllocatorTuning</c>).
/// </summary>
public static class PageFaults
{
    /// <summary>This process's minor faults so far (all threads), or null off Linux.</summary>
    public static long? MinorFaults()
    {
        const string stat = "/proc/self/stat";
        return File.Exists(stat) ? ParseMinorFaults(File.ReadAllText(stat)) : null;
    }

    /// <summary>
    /// <c>minflt</c> from one <c>/proc/[pid]/stat</c> line: <c>pid (comm) state ppid … minflt …</c>. WHY from the last ')':
    /// comm is the executable's name as the process set it, and may hold spaces and parentheses (<c>1 (a) b) S …</c>), so
    /// splitting the whole line on spaces would shift every field; the kernel writes nothing after comm that contains ')'.
    /// </summary>
    /// <exception cref="FormatException">Not a stat line (no ')' or too few fields after it).</exception>
    public static long ParseMinorFaults(string statLine)
    {
        int close = statLine.LastIndexOf(')');
        if (close < 0) throw new FormatException($"/proc/self/stat: no ')' closing the process name in '{Trim(statLine)}'");
        // After comm: field 3 (state), 4 ppid, 5 pgrp, 6 session, 7 tty_nr, 8 tpgid, 9 flags, 10 minflt.
        var fields = statLine[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        const int minflt = 10 - 3;
        if (fields.Length <= minflt || !long.TryParse(fields[minflt], NumberStyles.None, CultureInfo.InvariantCulture, out long faults))
            throw new FormatException($"/proc/self/stat: no minflt (field 10) in '{Trim(statLine)}'");
        return faults;
    }

    static string Trim(string line) => line.Length <= 120 ? line.Trim() : line[..120] + "…";
}
