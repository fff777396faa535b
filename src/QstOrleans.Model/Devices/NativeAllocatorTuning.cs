using System.Runtime.InteropServices;

namespace QstOrleans.Model.Devices;

/// <summary>What <see cref="NativeAllocatorTuning"/> did in this process.</summary>
/// <param name="Requested">Whether the tuning was asked for (<c>runtime.allocator_tuning</c>, <c>Qst:AllocatorTuning</c>).</param>
/// <param name="Allocator"><c>glibc 2.36</c>, or why nothing was tuned (<c>not glibc</c>, <c>not Linux</c>).</param>
/// <param name="Accepted">Each <c>mallopt</c> option tried, by name (<c>M_MMAP_THRESHOLD=33554432</c>), and whether glibc accepted it.</param>
public sealed record AllocatorTuningResult(bool Requested, string Allocator, IReadOnlyList<KeyValuePair<string, bool>> Accepted)
{
    /// <summary>Every option was tried and accepted.</summary>
    public bool Applied => Accepted.Count > 0 && Accepted.All(a => a.Value);

    /// <summary>One line for a run's header or a silo's start-up log.</summary>
    public string Describe() =>
        !Requested ? "allocator tuning off"
        : Accepted.Count == 0 ? $"allocator tuning skipped ({Allocator})"
        : $"allocator tuning ({Allocator}): " + string.Join(", ", Accepted.Select(a => a.Value ? a.Key : $"{a.Key} refused"));
}

/// <summary>
/// Keeps freed training-step buffers in glibc's heap so the next step reuses them instead of page-faulting fresh memory.
/// WHY: libtorch's CPU allocator is plain <c>posix_memalign</c>/<c>free</c>. glibc serves a block above its mmap threshold
/// (dynamic, starting at 128 KiB) with its own <c>mmap</c> and <c>munmap</c>s it on free, and gives the top of the heap back to
/// the kernel (<c>M_TRIM_THRESHOLD</c>); a training step allocates and frees the same activations every time, so every step
/// faulted the same pages in again: at the 134M bench shape ≈14 % of a step's time (issue 14).
/// <para>
/// What it sets (<c>man 3 mallopt</c>): <c>M_MMAP_THRESHOLD</c> to glibc's documented maximum (32 MiB on 64-bit), so blocks up to
/// 32 MiB come from the heap and are reused after free; and <c>M_TRIM_THRESHOLD</c> to 1 GiB, so freed memory at the heap's top
/// stays mapped. Blocks above 32 MiB are still mmapped and unmapped by glibc. WHY not more: older glibc refuses a larger
/// threshold (glibc 2.36 accepts any value), and a higher one would also put huge blocks (a loaded backbone's weights) in the
/// heap for good. Measured at the 134M bench shape (batch 4 × 128, 9 interleaved pairs, 2026-12-04): QST 19,672 → 515 minor
/// faults per step, QLoRA 11,761 → 546; turning mmap off as well (<c>MALLOC_MMAP_MAX_=0</c>) left QST at 46–502, no clearer.
/// </para>
/// <para>
/// The cost: the process's RSS no longer shrinks after a peak (up to the trim threshold of free heap stays resident), and
/// setting either option turns glibc's dynamic threshold off. Process-wide and once: the first call decides (a CLI command
/// applies its config before it starts an in-process silo, whose own call then changes nothing). A no-op off glibc (musl,
/// macOS, Windows), detected by <c>gnu_get_libc_version</c>, which only glibc exports.
/// </para>
/// </summary>
public static class NativeAllocatorTuning
{
    // <malloc.h> parameter numbers.
    const int MTrimThreshold = -1, MMmapThreshold = -3;

    /// <summary>glibc's largest <c>M_MMAP_THRESHOLD</c>: <c>DEFAULT_MMAP_THRESHOLD_MAX</c> = 4 MiB × sizeof(long), 32 MiB on 64-bit.</summary>
    public static readonly int MaxMmapThreshold = 4 * 1024 * 1024 * IntPtr.Size;

    /// <summary>Free memory glibc may keep at the top of the heap: more than any step's working set we measure (134M: ≈0.5 GiB).</summary>
    public const int TrimThreshold = 1 << 30;

    static readonly Lock Gate = new();
    static AllocatorTuningResult? _applied;

    /// <summary>What the first <see cref="ApplyOnce"/> of this process did, or null before it.</summary>
    public static AllocatorTuningResult? Current
    {
        get { lock (Gate) return _applied; }
    }

    /// <summary>
    /// Applies the tuning if <paramref name="enabled"/>, the first time it is called in this process; later calls return that
    /// first result unchanged (see the class summary). Never throws: an allocator it cannot tune is reported, not fatal.
    /// </summary>
    public static AllocatorTuningResult ApplyOnce(bool enabled)
    {
        lock (Gate)
            return _applied ??= enabled ? Apply() : new AllocatorTuningResult(false, Detect() ?? "not glibc", []);
    }

    static AllocatorTuningResult Apply()
    {
        if (Detect() is not { } glibc) return new AllocatorTuningResult(true, OperatingSystem.IsLinux() ? "not glibc" : "not Linux", []);
        // mallopt returns 1 on success and 0 when it refuses a value (e.g. a threshold above the maximum).
        var accepted = new List<KeyValuePair<string, bool>>
        {
            new($"M_MMAP_THRESHOLD={MaxMmapThreshold}", Mallopt(MMmapThreshold, MaxMmapThreshold)),
            new($"M_TRIM_THRESHOLD={TrimThreshold}", Mallopt(MTrimThreshold, TrimThreshold)),
        };
        return new AllocatorTuningResult(true, glibc, accepted);
    }

    /// <summary><c>glibc X.Y</c>, or null where the C library is not glibc (or not loadable as <c>libc</c>).</summary>
    static string? Detect()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return "glibc " + Marshal.PtrToStringAnsi(Native.gnu_get_libc_version());
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;   // musl (Alpine) has no gnu_get_libc_version
        }
    }

    /// <summary>One <c>mallopt</c> call and glibc's answer (tests: a refused value is reported as refused, not assumed applied).</summary>
    internal static bool Mallopt(int param, int value) => Detect() is not null && Native.mallopt(param, value) == 1;

    static class Native
    {
        [DllImport("libc")] public static extern int mallopt(int param, int value);
        [DllImport("libc")] public static extern IntPtr gnu_get_libc_version();
    }
}
