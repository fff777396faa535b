using System.CommandLine;

namespace QstOrleans.Cli.Commands;

/// <summary><c>qst resume JOB</c>: continues a paused job.</summary>
internal static class ResumeCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var connection = new ClusterConnection();
        var command = new Command("resume", "Resume a paused job.") { job };
        connection.AddTo(command);
        command.SetAction((p, cancel) => ClusterConnection.RunAsync(async () =>
        {
            await using var client = await connection.ConnectAsync(p, cancel);
            string id = p.GetValue(job)!;
            await client.ResumeAsync(id);
            var progress = await client.StatusAsync(id);
            Console.WriteLine($"job {id}: {progress.State.ToString().ToLowerInvariant()} at step {progress.Step}/{progress.TotalSteps}");
            return 0;
        }));
        return command;
    }
}
