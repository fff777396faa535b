using QstOrleans.Contracts.Security;
using QstOrleans.Grains.Hosting;

namespace QstOrleans.Grains.Jobs;

/// <summary>The job ids submitted to this cluster, in submission order (grain storage <see cref="QstProviders.State"/>, state
/// <c>registry</c>), so a restarted cluster can find and resume every unfinished job. With a tokens file
/// (<c>Qst:Auth</c>) it also keeps each job's owner, and lists users only their own jobs.</summary>
public sealed class JobRegistryGrain([PersistentState("registry", QstProviders.State)] IPersistentState<JobRegistryState> state)
    : Grain, IJobRegistryGrain
{
    public async Task Register(string jobId)
    {
        if (state.State.Jobs.Contains(jobId)) return;
        state.State.Jobs.Add(jobId);
        // Called by the job grain while it serves the submit: the caller is the submitting client's verified user.
        if (QstAuth.Caller is { } owner) state.State.Owners[jobId] = owner.Name;
        await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<string>> List()
    {
        var jobs = QstAuth.Caller is { IsAdmin: false } user
            ? state.State.Jobs.Where(id => state.State.Owners.GetValueOrDefault(id) == user.Name).ToList()
            : state.State.Jobs.ToList();
        return Task.FromResult<IReadOnlyList<string>>(jobs);
    }
}

/// <summary>The registry's durable state.</summary>
[GenerateSerializer]
public sealed class JobRegistryState
{
    [Id(0)] public List<string> Jobs { get; set; } = [];
    /// <summary>Job id → the user who submitted it (only jobs submitted to a cluster with a tokens file).</summary>
    [Id(1)] public Dictionary<string, string> Owners { get; set; } = [];
}
