using System.Threading.Channels;
using QstOrleans.Grains.Jobs.Pipeline;

namespace QstOrleans.Tests.Jobs;

/// <summary>The feeder's credits: never more than the window in flight, a credit back per applied micro-batch, pause and stop.</summary>
public sealed class PipelineFeederTests
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task SendsInOrderWithNeverMoreThanTheWindowInFlight()
    {
        const int window = 3, total = 20;
        var feeder = new PipelineFeeder(window, new PauseGate());
        var sent = Channel.CreateUnbounded<long>();
        int maxInFlight = 0;
        var run = feeder.RunAsync(0, total, s =>
        {
            maxInFlight = Math.Max(maxInFlight, feeder.InFlight);
            sent.Writer.TryWrite(s);
            return Task.FromResult((int)s + 1);   // tokens of micro-batch s
        });
        var order = new List<long>();
        var pending = new Queue<long>();
        while (order.Count < total)
        {
            long s = await sent.Reader.ReadAsync().AsTask().WaitAsync(Patience);
            order.Add(s);
            pending.Enqueue(s);
            // Apply the oldest only once the window is full: the feeder must stop there and wait for that credit.
            if (pending.Count == window || order.Count == total)
                while (pending.Count > (order.Count == total ? 0 : window - 1)) Assert.True(feeder.Applied(pending.Dequeue()));
        }
        await run.WaitAsync(Patience);
        Assert.Equal(Enumerable.Range(0, total).Select(i => (long)i), order);
        Assert.Equal(window, maxInFlight);
        Assert.Equal(0, feeder.InFlight);
        Assert.Equal(Enumerable.Range(1, total).Sum(), feeder.TokensApplied);
    }

    [Fact]
    public void AFullWindowWaitsForACredit()
    {
        var feeder = new PipelineFeeder(2, new PauseGate());
        var sent = new List<long>();
        var run = feeder.RunAsync(5, 100, s => { sent.Add(s); return Task.FromResult(1); });
        // Sends complete synchronously, so the loop has run until it blocked: exactly the window went out.
        Assert.Equal([5L, 6L], sent);
        Assert.False(run.IsCompleted);
        Assert.Equal(2, feeder.InFlight);
        feeder.Stop();
    }

    [Fact]
    public void ADuplicateOrUnknownReportGivesBackNoCredit()
    {
        var feeder = new PipelineFeeder(2, new PauseGate());
        var sent = new List<long>();
        var third = new TaskCompletionSource<int>();   // continuations inline: the loop goes on inside SetResult
        _ = feeder.RunAsync(0, 100, s =>
        {
            sent.Add(s);
            return s == 2 ? third.Task : Task.FromResult(1);
        });
        Assert.Equal([0L, 1L], sent);
        Assert.False(feeder.Applied(9));   // never sent
        Assert.True(feeder.Applied(0));
        Assert.False(feeder.Applied(0));   // reported twice
        SpinWait.SpinUntil(() => sent.Count == 3, Patience);
        Assert.Equal([0L, 1L, 2L], sent);
        third.SetResult(1);   // the loop resumes inline and must block on credits again, not send 3
        Assert.Equal([0L, 1L, 2L], sent);
        Assert.Equal(2, feeder.InFlight);
        feeder.Stop();
    }

    [Fact]
    public async Task APausedGateHoldsTheFeederUntilOpened()
    {
        var gate = new PauseGate();
        gate.Close();
        var feeder = new PipelineFeeder(4, gate);
        var sent = Channel.CreateUnbounded<long>();
        var run = feeder.RunAsync(0, 1, s => { sent.Writer.TryWrite(s); return Task.FromResult(1); });
        Assert.True(gate.IsPaused);
        Assert.False(sent.Reader.TryRead(out _));
        gate.Open();
        Assert.Equal(0, await sent.Reader.ReadAsync().AsTask().WaitAsync(Patience));
        await run.WaitAsync(Patience);
    }

    [Fact]
    public async Task StopEndsTheLoopQuietlyAndAFailedSendIsThrown()
    {
        var stopped = new PipelineFeeder(1, new PauseGate());
        var run = stopped.RunAsync(0, 10, _ => Task.FromResult(1));
        Assert.False(run.IsCompleted);
        stopped.Stop();
        await run.WaitAsync(Patience);
        Assert.True(stopped.IsStopped);

        var failing = new PipelineFeeder(1, new PauseGate());
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => failing.RunAsync(0, 10, _ => throw new InvalidOperationException("stage gone")));
        Assert.Equal("stage gone", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new PipelineFeeder(0, new PauseGate()));
    }
}
