using static TorchSharp.torch;

namespace QstOrleans.Grains.Hosting;

/// <summary>
/// Pins libtorch's intra-op thread count for a silo process (<see cref="QstSiloOptions.Threads"/>) before any tensor op.
/// WHY: the count is process-wide, and each thread takes it when it first runs a parallel op. A process that never sets
/// it leaves every thread on libtorch's own default, with MKL's dynamic threading on (MKL may then choose fewer threads
/// for a call); <c>train-local</c> and every in-process run set it, which also turns MKL's dynamic threading off.
/// Reductions split over threads round differently, so a silo must compute the way its single-process reference does.
/// </summary>
public static class ComputeThreads
{
    /// <summary>Sets the count (0 = one thread per core) and returns it.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="requested"/> is negative.</exception>
    public static int Pin(int requested)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(requested);
        int threads = requested > 0 ? requested : Environment.ProcessorCount;
        set_num_threads(threads);
        return threads;
    }

    static int _pinnedByASilo;

    /// <summary>
    /// <see cref="Pin"/> for the first silo configured in this process only: a process may host several silos (tests, the
    /// in-process cluster), and changing MKL's global thread count while another silo's workers compute is what pinning
    /// exists to avoid.
    /// </summary>
    public static void PinOnceForSilos(int requested)
    {
        if (Interlocked.Exchange(ref _pinnedByASilo, 1) == 0) Pin(requested);
    }

    /// <summary>The calling thread's intra-op thread count (what libtorch will use here).</summary>
    public static int Current => get_num_threads();
}
