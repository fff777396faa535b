using QstOrleans.Contracts.Grains;

namespace QstOrleans.Grains.Jobs;

/// <summary>The jobs submitted to this cluster, in submission order (in memory; persistence comes with fault tolerance).</summary>
public sealed class JobRegistryGrain : Grain, IJobRegistryGrain
{
    readonly List<string> _jobs = [];

    public Task Register(string jobId)
    {
        if (!_jobs.Contains(jobId)) _jobs.Add(jobId);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> List() => Task.FromResult<IReadOnlyList<string>>(_jobs.ToList());
}
