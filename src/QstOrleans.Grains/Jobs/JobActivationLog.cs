using Microsoft.Extensions.Logging;

namespace QstOrleans.Grains.Jobs;

/// <summary>
/// One line per activation and deactivation of a job grain that holds a job, with its silo and activation id: two activations of
/// one job (a lost grain-directory entry) show as two "activated" lines, and a deactivation says why the grain went away (idle,
/// silo stopping, or Orleans' directory dropping it after another silo died).
/// </summary>
static class JobActivationLog
{
    public static void Activated(ILogger log, string job, string silo, ActivationId activation, JobRecord record)
    {
        if (record.Spec is null) return;
        log.LogInformation("job {Job}: grain activated on silo {Silo} ({Activation}) with a {State} record, attempt {Attempt}, step {Step}", job,
            silo, activation, record.State, record.Attempt, record.Step);
    }

    /// <returns>A completed task (for <c>OnDeactivateAsync</c>).</returns>
    public static Task Deactivated(ILogger log, string job, string silo, ActivationId activation, JobRecord record, DeactivationReason reason)
    {
        if (record.Spec is not null)
            log.LogInformation("job {Job}: grain deactivated on silo {Silo} ({Activation}) with a {State} record: {Code} {Reason}", job, silo,
                activation, record.State, reason.ReasonCode, reason.Description);
        return Task.CompletedTask;
    }
}
