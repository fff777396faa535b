using QstOrleans.Contracts.Security;

namespace QstOrleans.Grains.Jobs;

/// <summary>The job grain's owner: recorded at the first submit (<see cref="JobRecord.Owner"/>), read by access checks.</summary>
public sealed partial class TrainingJobGrain
{
    public Task<JobOwnership> GetOwnership() => Task.FromResult(new JobOwnership(Record.Spec is not null, Record.Owner));

    /// <summary>The verified caller's name (null without a tokens file): the owner of a job submitted now.</summary>
    static string? SubmitterName => QstAuth.Caller?.Name;
}
