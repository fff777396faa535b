using QstOrleans.Grains.Hosting;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Operations;

/// <summary>
/// A silo pins libtorch's intra-op threads for the whole process (<see cref="ComputeThreads"/>): threads that run their
/// first tensor op afterwards (the stage and side workers) get the pinned count, not libtorch's default.
/// </summary>
public sealed class ComputeThreadsTests : IDisposable
{
    [Fact]
    public void APinnedCountHoldsOnThreadsStartedAfterwards()
    {
        Assert.Equal(1, ComputeThreads.Pin(1));
        int onNewThread = 0;
        var worker = new Thread(() =>
        {
            using var x = ones(100_000);
            using var sum = x.sum();                                  // the thread's first parallel op takes the process count
            onNewThread = ComputeThreads.Current;
        });
        worker.Start();
        worker.Join();
        Assert.Equal(1, ComputeThreads.Current);
        Assert.Equal(1, onNewThread);
    }

    [Fact]
    public void ZeroMeansOnePerCoreAndNegativeIsRefused()
    {
        Assert.Equal(Environment.ProcessorCount, ComputeThreads.Pin(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ComputeThreads.Pin(-1));
    }

    // Every in-process test trains with 2 threads (runtime.threads' default): leave the process as the others expect it.
    public void Dispose() => set_num_threads(2);
}
