namespace QstOrleans.Contracts.Grains;

/// <summary>The list of jobs submitted to the cluster (a single grain, key 0).</summary>
public interface IJobRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Adds an accepted job (called by the job grain; idempotent), owned by the verified caller of the submit.</summary>
    [ControlPlane]
    Task Register(string jobId);

    /// <summary>The ids of the accepted jobs, in submission order: all of them, or only their own for users of a cluster with
    /// a tokens file (admins see all).</summary>
    Task<IReadOnlyList<string>> List();
}
