using QstOrleans.Grains.Hosting;

namespace QstOrleans.Grains.Jobs;

/// <summary>The job ids submitted to this cluster, in submission order (grain storage <see cref="QstProviders.State"/>, state
/// <c>registry</c>), so a restarted cluster can find and resume every unfinished job.</summary>
public sealed class JobRegistryGrain([PersistentState("registry", QstProviders.State)] IPersistentState<JobRegistryState> state)
    : Grain, IJobRegistryGrain
{
    public async Task Register(string jobId)
    {
        if (state.State.Jobs.Contains(jobId)) return;
        state.State.Jobs.Add(jobId);
        await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<string>> List() => Task.FromResult<IReadOnlyList<string>>(state.State.Jobs.ToList());
}

/// <summary>The registry's durable state.</summary>
[GenerateSerializer]
public sealed class JobRegistryState
{
    [Id(0)] public List<string> Jobs { get; set; } = [];
}
