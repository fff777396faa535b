using QstOrleans.Cli.Train;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Cli.Cluster;

/// <summary>
/// <c>qst resume JOB</c>: continues a paused job, or recovers an unfinished job whose pipeline is gone (its silos
/// died, the cluster restarted) from its latest checkpoint, then prints its state. <c>qst resume JOB --local</c>
/// starts the in-process cluster on the same state directory as <c>qst train --local</c> and follows the job to its
/// end (Ctrl+C: as <c>qst train --local</c>). Exit codes: 0 resumed (or, local, completed), 1 failed/cancelled, 2 bad input (an
/// unknown job), 3 cluster unreachable, 130 interrupted.
/// </summary>
internal static class ResumeCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var local = new Option<bool>("--local") { Description = "Resume a job of `qst train --local` in an in-process cluster and follow it" };
        var stateDir = new Option<string?>("--state-dir") { Description = $"--local: the state directory (default {EmbeddedDefaults.StateDirectory})" };
        var plain = new Option<bool>("--plain") { Description = "Plain progress lines even on an interactive terminal" };
        var connection = new ClusterConnection();
        var command = new Command("resume", "Resume a paused job, or recover an unfinished one from its latest checkpoint.") { job, local, stateDir, plain };
        connection.AddTo(command);
        command.SetAction((p, cancel) => ClusterConnection.RunAsync(async () =>
        {
            string id = p.GetValue(job)!;
            if (p.GetValue(local))
            {
                if (connection.Resolve(p) is not null) throw new ArgumentException("--local runs an in-process cluster: drop --gateway/--redis (or unset QST_GATEWAY/QST_REDIS)");
                string dir = p.GetValue(stateDir) ?? EmbeddedDefaults.StateDirectory;
                await using var cluster = await LocalCluster.StartAsync(LocalCluster.ResumeSlots, dir, cancel);
                var before = await cluster.Client.FindAsync(id);
                if (before is null)
                {
                    Console.Error.WriteLine($"error: no job '{id}' in {Path.GetFullPath(dir)}");
                    return CliErrors.BadInput;
                }
                if (before.IsFinished)
                {
                    return TrainCommand.Finished(before);
                }
                Console.WriteLine($"resuming job {id} from step {before.LastCheckpointStep} (checkpoints in {LocalCluster.CheckpointDirectory(cluster.StateDirectory)})");
                await cluster.Client.ResumeAsync(id);
                return await TrainCommand.Follow(cluster.Client, id, TimeSpan.FromMilliseconds(250), p.GetValue(plain), remote: false, cancel);
            }
            if (p.GetValue(stateDir) is not null) throw new ArgumentException("--state-dir is for --local");
            await using var client = await connection.ConnectAsync(p, cancel);
            await client.ResumeAsync(id);
            var progress = await client.StatusAsync(id);
            Console.WriteLine($"job {id}: {progress.State.ToString().ToLowerInvariant()} at step {progress.Step}/{progress.TotalSteps}" +
                              (progress.LastCheckpointStep > 0 ? $", last checkpoint at step {progress.LastCheckpointStep}" : ""));
            return 0;
        }));
        return Interrupts.StopsCleanly(command);
    }
}
