namespace QstOrleans.Contracts.Grains;

/// <summary>The list of jobs submitted to the cluster (a single grain, key 0).</summary>
public interface IJobRegistryGrain : IGrainWithIntegerKey
{
    Task Register(string jobId);

    Task<IReadOnlyList<string>> List();
}
