namespace QstOrleans.Contracts.Grains;

/// <summary>The list of jobs submitted to the cluster (a single grain, key 0).</summary>
public interface IJobRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Adds an accepted job (called by the job grain; idempotent).</summary>
    Task Register(string jobId);

    /// <summary>The ids of every accepted job, in submission order.</summary>
    Task<IReadOnlyList<string>> List();
}
