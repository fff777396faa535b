using QstOrleans.Grains.Jobs.Recovery;

namespace QstOrleans.Tests.Jobs;

/// <summary>
/// The job's health probe on a slow but live link (issue 13): a reply that queues behind the tensors in flight must not
/// be declared dead when <c>Qst:MinLinkMbit</c> says how slow the links may be, and still is with the fixed timeout.
/// </summary>
public sealed class SlowLinkProbeTests
{
    static RecoveryPolicy Policy(double probeSeconds, double minLinkMbit) => new(TimeSpan.FromMinutes(5), 5, TimeSpan.FromSeconds(60),
        TimeSpan.FromSeconds(probeSeconds), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(4), minLinkMbit);

    static SideStatus Side(int attempt) => new(0, 0, 0, 0, 1, "silo-b", attempt);

    [Fact]
    public void TheTimeoutGrowsByTheTimeTheBytesInFlightTakeOnTheSlowestLink()
    {
        // The trip: an 11 MB taps message ahead of the reply on a 10 Mbit/s link = 11e6 · 8 / 10e6 = 8.8 s extra.
        Assert.Equal(TimeSpan.FromSeconds(10 + 8.8), Policy(10, 10).ProbeTimeout(11_000_000));
        Assert.Equal(TimeSpan.FromSeconds(10), Policy(10, 0).ProbeTimeout(11_000_000));   // 0 = fixed, as before
        Assert.Equal(TimeSpan.FromSeconds(10), Policy(10, 100).ProbeTimeout(0));
    }

    [Fact]
    public void BytesPerTokenBoundsEveryLinkOfTheMicroBatch()
    {
        // llama-134m (H 768, 12 layers, E 768, p 16) on 2 stages:
        // full: boundary 4·768 + 8 = 3080; taps 4·(768·13 + 768) = 43008; ids 32 → 46120.
        Assert.Equal(3080 + 43008 + 32, ProbeBudget.BytesPerToken(768, 12, 768, 16, 2, "full", 2));
        // lean bf16: taps 13 · 2 · 2 · 16 = 832; ĥ 2 · 768 = 1536 → 3080 + 2368 + 32.
        Assert.Equal(3080 + 832 + 1536 + 32, ProbeBudget.BytesPerToken(768, 12, 768, 16, 2, "lean", 2));
    }

    [Fact]
    public async Task AReplyQueuedBehindBulkIsNotAFaultWhenTheTimeoutScales()
    {
        // One slow reply, watched by two probes with a 50 ms base timeout: a fixed one, and one allowing for 10 MB in flight
        // on a 10 Mbit/s link (+8 s). The reply arrives only after the fixed probe has given up, so it was slower than 50 ms.
        var reply = new TaskCompletionSource<SideStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        var fixedProbe = HealthProbe.CheckAsync(Policy(0.05, 0), 3, () => reply.Task, () => Task.CompletedTask, CancellationToken.None, 10_000_000);
        var scaledProbe = HealthProbe.CheckAsync(Policy(0.05, 10), 3, () => reply.Task, () => Task.CompletedTask, CancellationToken.None, 10_000_000);

        var fixedVerdict = await fixedProbe;
        Assert.Contains("side trainer did not answer within 0.05 s", fixedVerdict.Fault);
        Assert.Contains("MinLinkMbit", fixedVerdict.Fault);
        Assert.False(scaledProbe.IsCompleted);
        reply.SetResult(Side(3));
        Assert.Equal(ProbeVerdict.Healthy, await scaledProbe);
    }

    [Fact]
    public async Task ADeadSiloIsStillAFaultAfterTheScaledTimeout()
    {
        var silent = new TaskCompletionSource<SideStatus>();
        // 1 kB in flight at 1 Mbit/s: 50 ms + 8 ms.
        var verdict = await HealthProbe.CheckAsync(Policy(0.05, 1), 3, () => silent.Task, () => Task.CompletedTask, CancellationToken.None, 1000);
        Assert.Contains("did not answer within 0.058 s", verdict.Fault);
    }
}
