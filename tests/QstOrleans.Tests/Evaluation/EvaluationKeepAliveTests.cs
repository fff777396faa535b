using QstOrleans.Grains.Jobs.Pipeline;
using QstOrleans.Grains.Jobs.Recovery;
using QstOrleans.Grains.Side.Evaluation;

namespace QstOrleans.Tests.Evaluation;

/// <summary>
/// No micro-batch is applied while a cluster job evaluates, so a long evaluation would look like a stall to the job's
/// watchdog (recovery after <see cref="RecoveryPolicy.StallTimeout"/>, then the same evaluation again): the side trainer's
/// keep-alive (<c>ITrainingJobGrain.Evaluating</c> → <see cref="PipelineFeeder.Alive"/>) restarts the stall clock.
/// </summary>
public sealed class EvaluationKeepAliveTests
{
    sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void AnEvaluationKeepAliveRestartsTheStallClock()
    {
        var policy = new RecoveryPolicy(TimeSpan.FromMinutes(1), 3, StallTimeout: TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(5),
            TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(4));
        var clock = new ManualClock();
        var feeder = new PipelineFeeder(2, new PauseGate(), clock);
        clock.Now += TimeSpan.FromSeconds(61);
        Assert.NotNull(HealthProbe.Stalled(policy, inFlight: 2, feeder.LastProgress, clock.Now));   // what an unannounced evaluation looks like

        feeder.Alive();
        Assert.Equal(clock.Now, feeder.LastProgress);
        Assert.Null(HealthProbe.Stalled(policy, inFlight: 2, feeder.LastProgress, clock.Now + TimeSpan.FromSeconds(59)));
        // The side trainer announces itself well inside the default stall timeout.
        Assert.True(SideEvaluation.KeepAliveInterval * 4 <= policy.StallTimeout);
    }
}
