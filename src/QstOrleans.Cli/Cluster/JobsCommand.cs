namespace QstOrleans.Cli.Cluster;

/// <summary><c>qst jobs</c>: one line per job submitted to the cluster (id, state, step/total, loss, tokens/s).</summary>
internal static class JobsCommand
{
    public static Command Create()
    {
        var connection = new ClusterConnection();
        var command = new Command("jobs", "List the cluster's jobs.");
        connection.AddTo(command);
        command.SetAction((p, cancel) => ClusterConnection.RunAsync(async () =>
        {
            await using var client = await connection.ConnectAsync(p, cancel);
            var jobs = await client.ListAsync();
            if (jobs.Count == 0) Console.WriteLine("no jobs");
            foreach (var job in jobs)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{job.JobId,-32} {job.State,-10} step {job.Step}/{job.TotalSteps}  loss {(float.IsNaN(job.Loss) ? "-" : job.Loss.ToString("F4", CultureInfo.InvariantCulture))}  tokens/s {job.TokensPerSecond:F0}"));
            return 0;
        }));
        return command;
    }
}
