using Microsoft.Extensions.Logging;

namespace QstOrleans.Grains.Hosting;

/// <summary>
/// Silo startup task: pokes every job in the registry, so that after a whole-cluster restart each unfinished job
/// re-activates and recovers from its checkpoint at once instead of waiting for its keepalive reminder. Runs in the
/// background (never delays the silo's start) and is idempotent: every silo does it, finished jobs ignore it.
/// </summary>
internal sealed class ResumeJobsOnStartup(IGrainFactory grains, ILogger<ResumeJobsOnStartup> log) : IStartupTask
{
    public Task Execute(CancellationToken cancellationToken)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                var jobs = await grains.GetGrain<IJobRegistryGrain>(0).List();
                foreach (var id in jobs)
                {
                    try { await grains.GetGrain<ITrainingJobGrain>(id).Poke(); }
                    catch (Exception e) { log.LogWarning("resuming job {Job} on startup failed: {Message}", id, e.Message); }
                }
                if (jobs.Count > 0) log.LogInformation("poked {Count} registered job(s) on startup", jobs.Count);
            }
            catch (Exception e)
            {
                log.LogWarning("listing jobs on startup failed: {Message}", e.Message);
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }
}
