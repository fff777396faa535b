using QstOrleans.Contracts.Wire;

namespace QstOrleans.Cli.Cluster;

/// <summary>
/// <c>qst status JOB</c>: the job's state, step, loss, throughput, where each stage runs and how busy it is.
/// Exit code 0 when the job is known, 2 (bad input) when the cluster has never seen it.
/// </summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var connection = new ClusterConnection();
        var command = new Command("status", "Show one job's progress and stage placement.") { job };
        connection.AddTo(command);
        command.SetAction((p, cancel) => ClusterConnection.RunAsync(async () =>
        {
            await using var client = await connection.ConnectAsync(p, cancel);
            string id = p.GetValue(job)!;
            var progress = await client.StatusAsync(id);
            // A job grain that was never started activates empty (Pending, no plan): say so instead of "pending".
            if (progress is { State: JobState.Pending, TotalSteps: 0 } && !(await client.ListAsync()).Any(j => j.JobId == id))
            {
                Console.Error.WriteLine($"error: no job '{id}' on this cluster");
                return CliErrors.BadInput;
            }
            foreach (var line in JobProgressView.Summary(progress)) Console.WriteLine(line);
            return 0;
        }));
        return command;
    }
}
