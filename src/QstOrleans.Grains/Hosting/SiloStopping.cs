using Orleans.Runtime;

namespace QstOrleans.Grains.Hosting;

/// <summary>
/// Cancelled as soon as this silo begins a graceful stop (SIGTERM, <c>StopAsync</c>), before Orleans deactivates its grains.
/// Orleans starts a grain's deactivation only once no call of it is running, and then gives <c>OnDeactivateAsync</c> 30 s
/// (<c>GrainCollectionOptions.DeactivationTimeout</c>). A call that waits on another grain of the same stopping silo (a
/// stage's Submit waiting for queue space, a send to a deactivating side trainer, a watch's long poll) therefore held a
/// silo with a running job's grains for the whole 30 s. Grains use this token to stop such waits at once: the work they
/// drop is replayed by the job from its checkpoint on the silos that stay (fencing by attempt keeps it exactly-once).
/// </summary>
public sealed class SiloStopping : ILifecycleParticipant<ISiloLifecycle>
{
    readonly CancellationTokenSource _stopping = new();

    public CancellationToken Token => _stopping.Token;
    public bool IsStopping => _stopping.IsCancellationRequested;

    /// <summary>The last stage to start is the first to stop: the token is cancelled before grains deactivate.</summary>
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SiloStopping), ServiceLifecycleStage.Active, _ => Task.CompletedTask, _ =>
        {
            _stopping.Cancel();
            return Task.CompletedTask;
        });
}
