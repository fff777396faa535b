using Orleans.Runtime;
using QstOrleans.Grains.Jobs.Recovery;

namespace QstOrleans.Tests.Jobs;

/// <summary>The recovery decisions without a cluster: fencing, queued faults, give-up, backoff, stall and health probes.</summary>
public sealed class RecoverySupervisorTests
{
    static RecoveryPolicy Policy(int maxWithoutProgress = 5, double timeoutSeconds = 300, double probeSeconds = 10) => new(
        TimeSpan.FromSeconds(timeoutSeconds), maxWithoutProgress, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(probeSeconds),
        TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(4));

    [Fact]
    public void FaultsOfOlderAttemptsAreFencedAndOnlyOneRecoveryRunsAtATime()
    {
        var supervisor = new RecoverySupervisor(Policy());
        Assert.Equal(FaultVerdict.Fenced, supervisor.Report(0, 1, "old attempt"));
        Assert.False(supervisor.Recovering);
        Assert.Equal(FaultVerdict.Start, supervisor.Report(1, 1, "stage gone"));
        Assert.True(supervisor.Recovering);
        Assert.Equal(FaultVerdict.Queued, supervisor.Report(1, 1, "side gone"));
    }

    [Fact]
    public void AFaultReportedWhileARecoveryFinishesIsQueuedNotDropped()
    {
        var supervisor = new RecoverySupervisor(Policy());
        Assert.Equal(FaultVerdict.Start, supervisor.Report(3, 3, "silo 2 died"));
        Assert.True(supervisor.Begin());
        // The recovery has started attempt 4's pipeline and is persisting when that pipeline breaks.
        Assert.Equal(FaultVerdict.Queued, supervisor.Report(4, 4, "stage on silo 3 unreachable"));
        Assert.Equal(FaultVerdict.Queued, supervisor.Report(4, 4, "later symptom"));
        Assert.Equal("stage on silo 3 unreachable", supervisor.End(4, pipelineRunning: true));
        Assert.False(supervisor.Recovering);
        Assert.Equal(FaultVerdict.Start, supervisor.Report(4, 4, "stage on silo 3 unreachable"));
        Assert.Null(supervisor.End(4, pipelineRunning: true));   // handed back once only
    }

    [Fact]
    public void AQueuedFaultIsDroppedWhenItNoLongerConcernsTheRunningAttempt()
    {
        var supervisor = new RecoverySupervisor(Policy());
        supervisor.Report(1, 1, "first");
        supervisor.Report(1, 1, "queued for attempt 1");
        Assert.Null(supervisor.End(2, pipelineRunning: true));   // attempt 2 runs now: attempt 1's fault is fenced
        supervisor.Report(2, 2, "first");
        supervisor.Report(2, 2, "queued");
        Assert.Null(supervisor.End(2, pipelineRunning: false));   // the recovery failed or the job finished
    }

    [Fact]
    public void GivesUpAfterTooManyRecoveriesWithoutACompletedStep()
    {
        var supervisor = new RecoverySupervisor(Policy(maxWithoutProgress: 2));
        Assert.True(supervisor.Begin());
        Assert.True(supervisor.Begin());
        Assert.False(supervisor.Begin());
        Assert.NotNull(supervisor.StepCompleted());
        Assert.Equal(0, supervisor.RecoveriesWithoutProgress);
        Assert.Null(supervisor.StepCompleted());   // the time to the first step is reported once per fault
        Assert.True(supervisor.Begin());
    }

    [Fact]
    public void RetriesInfrastructureErrorsWithDoublingBackoffAndNeverDeterministicOnes()
    {
        var supervisor = new RecoverySupervisor(Policy());
        supervisor.Begin();
        double[] expected = [250, 500, 1000, 2000, 4000, 4000, 4000];
        for (int retry = 0; retry < expected.Length; retry++)
            Assert.Equal(expected[retry], supervisor.RetryDelay(new SiloUnavailableException(), retry)!.Value.TotalMilliseconds);
        Assert.Null(supervisor.RetryDelay(new ArgumentException("bad spec"), 0));
        Assert.Null(supervisor.RetryDelay(new InvalidDataException("checkpoint of another spec"), 0));

        var expired = new RecoverySupervisor(Policy(timeoutSeconds: 0));
        expired.Begin();
        Assert.Null(expired.RetryDelay(new SiloUnavailableException(), 0));
    }

    [Fact]
    public void AStallNeedsWorkInFlightAndNoProgressForTheStallTimeout()
    {
        var now = DateTimeOffset.UtcNow;
        Assert.Null(HealthProbe.Stalled(Policy(), 0, now.AddMinutes(-5), now));
        Assert.Null(HealthProbe.Stalled(Policy(), 2, now.AddSeconds(-59), now));
        Assert.Equal("no micro-batch applied for 60 s", HealthProbe.Stalled(Policy(), 2, now.AddSeconds(-61), now));
    }

    [Fact]
    public async Task TheHealthProbeTimeoutIsASettingAndSilenceIsAFault()
    {
        var silent = new TaskCompletionSource<SideStatus>();
        var verdict = await HealthProbe.CheckAsync(Policy(probeSeconds: 0.05), 1, () => silent.Task, () => Task.CompletedTask, CancellationToken.None);
        Assert.Contains("side trainer did not answer within 0.05 s", verdict.Fault);
        Assert.Contains("HealthProbeTimeout", verdict.Fault);

        var stuckStages = await HealthProbe.CheckAsync(Policy(probeSeconds: 0.05), 1, () => Task.FromResult(Side(1)), () => new TaskCompletionSource().Task,
            CancellationToken.None);
        Assert.Contains("stages did not answer", stuckStages.Fault);
    }

    [Fact]
    public async Task TheProbeTellsHealthyFromReactivatedOrStaleSideTrainers()
    {
        Task Stages() => Task.CompletedTask;
        Assert.Equal(ProbeVerdict.Healthy, await HealthProbe.CheckAsync(Policy(), 2, () => Task.FromResult(Side(2)), Stages, CancellationToken.None));
        Assert.Equal("side trainer is at attempt 1, the job at 2",
            (await HealthProbe.CheckAsync(Policy(), 2, () => Task.FromResult(Side(1)), Stages, CancellationToken.None)).Fault);
        Assert.Contains("without state", (await HealthProbe.CheckAsync(Policy(), 2, () => Task.FromResult(Side(-1)), Stages, CancellationToken.None)).Fault);
        var bug = await HealthProbe.CheckAsync(Policy(), 2, () => Task.FromException<SideStatus>(new NullReferenceException("bug")), Stages, CancellationToken.None);
        Assert.Null(bug.Fault);   // not an infrastructure fault: logged, no recovery
        Assert.Contains("bug", bug.Warning);
    }

    static SideStatus Side(int attempt) => new(0, 0, 0, 0, 0, "silo-a", attempt);
}
