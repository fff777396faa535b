using QstOrleans.Client;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Cli.Train;

/// <summary>
/// The first Ctrl+C on <c>qst train --local</c> (or <c>qst resume --local</c>): asks the job for a checkpoint at its next
/// optimizer-step boundary (<see cref="QstClient.RequestCheckpointAsync"/>, whatever its checkpoint cadence), waits until
/// that checkpoint is committed, then the command exits 130; the same command started again resumes from the step where it
/// was interrupted. A second Ctrl+C exits at once (<see cref="Interrupts"/>); the rerun then resumes from the checkpoint before.
/// The request is sent again every <see cref="Repeat"/> while waiting: one made during a recovery (no side trainer session to
/// take it) or followed by a failed upload would otherwise be lost; an extra request only cuts one more checkpoint.
/// </summary>
internal static class LocalInterrupt
{
    static readonly TimeSpan Repeat = TimeSpan.FromSeconds(2);

    /// <returns>130 once a newer checkpoint is committed; the job's own exit code if it ends first.</returns>
    public static async Task<int> StopAtNextCheckpoint(QstClient client, string jobId, TimeSpan poll)
    {
        var now = await client.StatusAsync(jobId);
        if (now.IsFinished) return TrainCommand.Finished(now);
        int before = await client.RequestCheckpointAsync(jobId);
        Console.Error.WriteLine($"interrupted at step {now.Step}: job {jobId} checkpoints at its next step boundary; " +
                                $"Ctrl+C again exits now (the same command then resumes it from {From(before)})");
        var sinceRequest = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            await Task.Delay(poll);
            if (sinceRequest.Elapsed >= Repeat)
            {
                await client.RequestCheckpointAsync(jobId);
                sinceRequest.Restart();
            }
            var p = await client.StatusAsync(jobId);
            if (p.IsFinished) return TrainCommand.Finished(p);
            if (p.LastCheckpointStep > before)
            {
                Console.Error.WriteLine($"checkpoint of step {p.LastCheckpointStep} committed: the same command resumes job {jobId} from there");
                return Interrupts.ExitCode;
            }
        }
    }

    static string From(int step) => step > 0 ? $"step {step}" : "the start";
}
