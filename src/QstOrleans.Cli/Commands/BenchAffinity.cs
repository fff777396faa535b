using System.Runtime.InteropServices;

namespace QstOrleans.Cli.Commands;

/// <summary>
/// Pins this whole process to a set of CPUs with Linux <c>sched_setaffinity</c> (libc P/Invoke). The
/// syscall pins one thread (a tid), and a new thread inherits its creator's mask; so every thread
/// listed in /proc/self/task is pinned, twice over to catch threads born during the first pass, and
/// everything started later (Orleans, libtorch's OpenMP pool, the thread pool) inherits the mask.
/// WHY per process: a stage's work hops between thread-pool threads at every await, so pinning one
/// worker thread inside a shared process would not keep the stage on its core.
/// Throws <see cref="PlatformNotSupportedException"/> off Linux and <see cref="InvalidOperationException"/>
/// when the kernel refuses the mask (e.g. a CPU outside the cgroup's set).
/// </summary>
internal static class BenchAffinity
{
    [DllImport("libc", SetLastError = true)]
    static extern int sched_setaffinity(int pid, nint cpusetsize, ulong[] mask);

    [DllImport("libc", SetLastError = true)]
    static extern int sched_getaffinity(int pid, nint cpusetsize, ulong[] mask);

    const int MaskWords = 16; // 1024 CPUs

    /// <summary>Pins every thread of this process to <paramref name="cpus"/>.</summary>
    public static void PinProcess(IReadOnlyCollection<int> cpus)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("CPU pinning needs Linux sched_setaffinity");
        if (cpus.Count == 0 || cpus.Any(c => c is < 0 or >= MaskWords * 64)) throw new ArgumentException($"CPU set [{string.Join(",", cpus)}] is empty or out of range", nameof(cpus));
        var mask = new ulong[MaskWords];
        foreach (int c in cpus) mask[c / 64] |= 1UL << (c % 64);
        for (int pass = 0; pass < 2; pass++)
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                int tid = int.Parse(Path.GetFileName(task), System.Globalization.CultureInfo.InvariantCulture);
                // A thread may exit between listing and pinning (ESRCH): nothing left to pin.
                if (sched_setaffinity(tid, MaskWords * 8, mask) != 0 && Marshal.GetLastPInvokeError() != 3)
                    throw new InvalidOperationException($"sched_setaffinity(tid {tid}, CPUs [{string.Join(",", cpus)}]) failed: errno {Marshal.GetLastPInvokeError()}");
            }
    }

    /// <summary>The CPUs the calling thread may run on.</summary>
    public static IReadOnlyList<int> CurrentCpus()
    {
        var mask = new ulong[MaskWords];
        if (!OperatingSystem.IsLinux() || sched_getaffinity(0, MaskWords * 8, mask) != 0) return [];
        return [.. Enumerable.Range(0, MaskWords * 64).Where(c => (mask[c / 64] & (1UL << (c % 64))) != 0)];
    }
}
