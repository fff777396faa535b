using QstOrleans.Client;

namespace QstOrleans.Cli.Cluster;

/// <summary>
/// <c>qst pause JOB</c> (stop feeding new micro-batches; those in flight finish) and <c>qst cancel JOB</c> (stop for
/// good; a finished job is left as it is). Each prints the job's state afterwards. <c>qst resume</c> is
/// <see cref="ResumeCommand"/>.
/// </summary>
internal static class JobControlCommands
{
    public static Command Pause() => Create("pause", "Pause a running job.", (c, id) => c.PauseAsync(id));

    public static Command Cancel() => Create("cancel", "Cancel a job.", (c, id) => c.CancelAsync(id));

    static Command Create(string name, string description, Func<QstClient, string, Task> act)
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var connection = new ClusterConnection();
        var command = new Command(name, description) { job };
        connection.AddTo(command);
        command.SetAction((p, cancel) => ClusterConnection.RunAsync(async () =>
        {
            await using var client = await connection.ConnectAsync(p, cancel);
            string id = p.GetValue(job)!;
            await act(client, id);
            var progress = await client.StatusAsync(id);
            Console.WriteLine($"job {id}: {progress.State.ToString().ToLowerInvariant()} at step {progress.Step}/{progress.TotalSteps}");
            return 0;
        }));
        return command;
    }
}
