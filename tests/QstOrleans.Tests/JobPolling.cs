using QstOrleans.Client;

namespace QstOrleans.Tests;

/// <summary>
/// Polling a job that a separate process (<c>qst train</c>) submits: until that process has submitted it, the cluster
/// answers <see cref="JobNotFoundException"/>; a poll reads that as "pending, not yet there" instead of failing the test.
/// </summary>
public static class JobPolling
{
    public static async Task<JobProgress> StatusOnceSubmitted(this QstClient client, string jobId)
    {
        try { return await client.StatusAsync(jobId); }
        catch (JobNotFoundException) { return new JobProgress { JobId = jobId, State = JobState.Pending, Message = "not submitted yet" }; }
    }
}
