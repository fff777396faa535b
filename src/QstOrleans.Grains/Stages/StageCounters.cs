using System.Diagnostics;

namespace QstOrleans.Grains.Stages;

/// <summary>Thread-safe time and traffic counters of one pipeline worker (stage or side trainer).</summary>
public sealed class StageCounters
{
    readonly Stopwatch _alive = Stopwatch.StartNew();
    long _processed, _computeTicks, _sendTicks, _waitTicks, _bytes;

    public long Processed => Interlocked.Read(ref _processed);
    public double ComputeSeconds => Ticks(ref _computeTicks);
    public double SendSeconds => Ticks(ref _sendTicks);
    public double WaitSeconds => Ticks(ref _waitTicks);
    public double AliveSeconds => _alive.Elapsed.TotalSeconds;
    public long BytesSent => Interlocked.Read(ref _bytes);

    public void AddCompute(TimeSpan t) => Interlocked.Add(ref _computeTicks, t.Ticks);
    public void AddSend(TimeSpan t, long bytes)
    {
        Interlocked.Add(ref _sendTicks, t.Ticks);
        Interlocked.Add(ref _bytes, bytes);
    }
    public void AddWait(TimeSpan t) => Interlocked.Add(ref _waitTicks, t.Ticks);
    public void CountProcessed() => Interlocked.Increment(ref _processed);

    static double Ticks(ref long field) => TimeSpan.FromTicks(Interlocked.Read(ref field)).TotalSeconds;
}
