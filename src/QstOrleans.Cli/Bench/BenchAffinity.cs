using System.Diagnostics;
using System.Runtime.InteropServices;

namespace QstOrleans.Cli.Bench;

/// <summary>
/// Starts a child process pinned to one CPU set with Linux <c>sched_setaffinity</c> (libc P/Invoke): a
/// short-lived thread pins itself, then starts the process; fork copies that thread's mask into the
/// child before the .NET runtime there starts, so every thread the child ever creates keeps it.
/// WHY at start: pinning a running process means chasing every thread it has and racing the ones the
/// runtime is creating; started pinned, all of a silo's threads show the one CPU in
/// /proc/PID/task/*/status (checked: 23 of 23). Pinning one worker thread inside a shared process would
/// not hold a stage either: its work hops between thread-pool threads at every await.
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

    /// <summary>Starts <paramref name="start"/> with the child pinned to <paramref name="cpu"/>.</summary>
    public static Process StartPinned(ProcessStartInfo start, int cpu)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("CPU pinning needs Linux sched_setaffinity");
        if (cpu is < 0 or >= MaskWords * 64) throw new ArgumentOutOfRangeException(nameof(cpu), cpu, "CPU out of range");
        Process? process = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                var mask = new ulong[MaskWords];
                mask[cpu / 64] = 1UL << (cpu % 64);
                // pid 0 = the calling thread only: the parent's other threads keep running anywhere.
                if (sched_setaffinity(0, MaskWords * 8, mask) != 0)
                    throw new InvalidOperationException($"sched_setaffinity(CPU {cpu}) failed: errno {Marshal.GetLastPInvokeError()}");
                process = Process.Start(start);
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        thread.Start();
        thread.Join();
        if (error is not null) throw new InvalidOperationException($"could not start {start.FileName} pinned to CPU {cpu}: {error.Message}", error);
        return process ?? throw new InvalidOperationException($"could not start {start.FileName}");
    }

    /// <summary>The CPUs the calling thread may run on (empty off Linux).</summary>
    public static IReadOnlyList<int> CurrentCpus()
    {
        var mask = new ulong[MaskWords];
        if (!OperatingSystem.IsLinux() || sched_getaffinity(0, MaskWords * 8, mask) != 0) return [];
        return [.. Enumerable.Range(0, MaskWords * 64).Where(c => (mask[c / 64] & (1UL << (c % 64))) != 0)];
    }
}
