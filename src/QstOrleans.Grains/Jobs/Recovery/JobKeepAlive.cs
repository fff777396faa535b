using Microsoft.Extensions.Logging;

namespace QstOrleans.Grains.Jobs.Recovery;

/// <summary>
/// The reminder that re-activates an unfinished job after its silo died (every minute; the job then finds itself
/// without a pipeline and recovers). Registered when a job starts running, dropped when it finishes.
/// </summary>
public static class JobKeepAlive
{
    public const string Reminder = "keepalive";

    /// <summary>Registers (<paramref name="on"/>) or drops the reminder; a failure is logged, not thrown.</summary>
    public static async Task Set(Grain job, bool on, ILogger log)
    {
        try
        {
            if (on)
            {
                await job.RegisterOrUpdateReminder(Reminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            }
            else if (await job.GetReminder(Reminder) is { } reminder)
            {
                await job.UnregisterReminder(reminder);
            }
        }
        catch (Exception e)
        {
            // Without the reminder the job still recovers on the next call or silo start; only the idle wake-up is lost.
            log.LogWarning("job {Job}: keepalive reminder {Action} failed: {Message}", job.GetPrimaryKeyString(), on ? "registration" : "removal", e.Message);
        }
    }
}
