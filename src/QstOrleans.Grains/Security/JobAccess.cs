using QstOrleans.Contracts.Security;
using QstOrleans.Grains.Jobs;
using QstOrleans.Grains.Results;

namespace QstOrleans.Grains.Security;

/// <summary>
/// Who may touch a job: its owner (the verified user who submitted it) or an admin. Applies to every client call on the
/// job grain (status, watch, pause, resume, cancel, checkpoints, a second submit) and on its result (download). A job id
/// nobody submitted yet is open: submitting it makes the caller its owner; reading it says "no job". Jobs submitted
/// before the cluster had a tokens file have no owner: only admins may touch them. Listing is filtered by the registry.
/// </summary>
internal static class JobAccess
{
    public static async Task CheckAsync(IIncomingGrainCallContext context, QstPrincipal caller, IGrainFactory grains, string method)
    {
        if (caller.IsAdmin) return;
        // The filter runs in the target's activation: its record is read on the grain's own scheduler.
        var ownership = context.TargetContext.GrainInstance switch
        {
            TrainingJobGrain job => new JobOwnership(job.Record.Spec is not null, job.Record.Owner),
            JobResultGrain => await grains.GetGrain<ITrainingJobGrain>(context.TargetId.Key.ToString()!).GetOwnership(),
            _ => null,
        };
        if (ownership is null || !ownership.Exists || ownership.Owner == caller.Name) return;
        throw new QstAccessDeniedException(false,
            $"job '{context.TargetId.Key}' belongs to another user: only its owner or an admin may call {method} (user '{caller.Name}')");
    }
}
