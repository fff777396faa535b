using QstOrleans.Client;
using QstOrleans.Configuration;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Cli.Train;

/// <summary>
/// The first Ctrl+C on <c>qst train --local</c> (or <c>qst resume --local</c>): the job runs on until its next checkpoint is
/// committed, so the same command started again resumes from the step where it was interrupted (give or take the
/// checkpoint interval), then the command exits 130. A second Ctrl+C exits at once (<see cref="Interrupts"/>); the rerun
/// then resumes from the checkpoint before. A job without a checkpoint cadence stops at once.
/// </summary>
internal static class LocalInterrupt
{
    /// <returns>130 once a newer checkpoint is committed; the job's own exit code if it ends first.</returns>
    public static async Task<int> StopAtNextCheckpoint(QstClient client, string jobId, TimeSpan poll, CheckpointSection? cadence)
    {
        var now = await client.StatusAsync(jobId);
        if (now.IsFinished) return TrainCommand.Finished(now);
        if (cadence is { EverySteps: 0, EveryMinutes: 0 })
        {
            Console.Error.WriteLine($"interrupted at step {now.Step}: job {jobId} has no checkpoint cadence (--checkpoint-every, --checkpoint-minutes); " +
                                    $"the same command resumes it from {From(now.LastCheckpointStep)}");
            return Interrupts.ExitCode;
        }
        Console.Error.WriteLine($"interrupted at step {now.Step}: job {jobId} runs on to its next checkpoint{Due(now, cadence)}; " +
                                $"Ctrl+C again exits now (the same command then resumes it from {From(now.LastCheckpointStep)})");
        int before = now.LastCheckpointStep;
        while (true)
        {
            await Task.Delay(poll);
            var p = await client.StatusAsync(jobId);
            if (p.IsFinished) return TrainCommand.Finished(p);
            if (p.LastCheckpointStep > before)
            {
                Console.Error.WriteLine($"checkpoint of step {p.LastCheckpointStep} committed: the same command resumes job {jobId} from there");
                return Interrupts.ExitCode;
            }
        }
    }

    static string Due(JobProgress now, CheckpointSection? cadence) => cadence switch
    {
        // Due when step - last checkpoint >= every_steps (counted from the last checkpoint, not in multiples).
        { EverySteps: > 0 } c => $" (step {Math.Max(now.LastCheckpointStep + c.EverySteps, now.Step + 1)} at the latest" +
                                   (c.EveryMinutes > 0 ? string.Create(CultureInfo.InvariantCulture, $", or within {c.EveryMinutes:0.#} min") : "") + ")",
        { EveryMinutes: > 0 } c => string.Create(CultureInfo.InvariantCulture, $" (within {c.EveryMinutes:0.#} min)"),
        _ => "",
    };

    static string From(int step) => step > 0 ? $"step {step}" : "the start";
}
