using QstOrleans.Client;
using QstOrleans.Contracts.Wire;
using Spectre.Console;

namespace QstOrleans.Cli.Cluster;

/// <summary>
/// Shows a job's progress until it finishes: a live Spectre.Console progress bar (epoch, step/total, loss,
/// tokens/s) on an interactive terminal, one plain line per change otherwise (CI, redirected output).
/// Returns the last snapshot (null if <paramref name="cancel"/> fired before the job finished).
/// </summary>
internal static class JobProgressView
{
    public static bool IsInteractive =>
        !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive && AnsiConsole.Profile.Capabilities.Ansi;

    public static async Task<JobProgress?> FollowAsync(QstClient client, string jobId, TimeSpan poll, bool plain, CancellationToken cancel)
    {
        try
        {
            return plain || !IsInteractive ? await FollowPlain(client, jobId, poll, cancel) : await FollowLive(client, jobId, poll, cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return null;
        }
    }

    static async Task<JobProgress?> FollowPlain(QstClient client, string jobId, TimeSpan poll, CancellationToken cancel)
    {
        JobProgress? last = null;
        await foreach (var progress in client.FollowAsync(jobId, poll, cancel))
        {
            // Polling can skip steps: print each one, with its own loss from the job's loss history.
            for (int step = (last?.Step ?? 0) + 1; step <= progress.Step; step++)
            {
                float loss = step - 1 < progress.Losses.Count ? progress.Losses[step - 1] : progress.Loss;
                // The grad norm is known for the snapshot's own step only; an evaluation line names its step.
                bool own = step == progress.Step;
                Console.WriteLine(StepLine(progress with { Step = step, Loss = loss, GradNorm = own ? progress.GradNorm : null, StepSkipped = own ? progress.StepSkipped : null }));
            }
            // A job that did not complete has its message printed once, as the command's error line.
            bool failed = progress.State is JobState.Failed or JobState.Cancelled;
            if (last is null || progress.State != last.State || progress.Message != last.Message)
                Console.WriteLine($"job {jobId}: {progress.State}{(progress.Message is { } m && !failed ? $" ({m})" : "")}");
            last = progress;
        }
        return last;
    }

    static async Task<JobProgress?> FollowLive(QstClient client, string jobId, TimeSpan poll, CancellationToken cancel)
    {
        JobProgress? last = null;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("starting", maxValue: 1);
                await foreach (var progress in client.FollowAsync(jobId, poll, cancel))
                {
                    last = progress;
                    task.MaxValue = Math.Max(progress.TotalSteps, 1);
                    task.Value = progress.Step;
                    // Short enough for an 80-column terminal next to the bar; the job id was printed on submit.
                    string state = progress.State == JobState.Running ? "" : $"{progress.State.ToString().ToLowerInvariant()} ";
                    task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                        $"{state}epoch {progress.Epoch} step {progress.Step}/{progress.TotalSteps} loss {Format(progress.Loss, "F4")} {progress.TokensPerSecond:F0} tok/s"));
                    if (progress.StepSkipped is not null) AnsiConsole.WriteLine(SkippedLine(progress));
                    if (progress.IsFinished) task.StopTask();
                }
            });
        return last;
    }

    /// <summary>"step N skipped: non-finite gradient (…)" for a step <c>optimizer.non_finite = skip</c> did not apply.</summary>
    public static string SkippedLine(JobProgress p) =>
        $"step {p.Step} skipped: {p.StepSkipped} (optimizer.non_finite = skip: no update applied, the step still counts)";

    public static string StepLine(JobProgress p) => p.StepSkipped is not null ? SkippedLine(p) : string.Create(CultureInfo.InvariantCulture,
        $"step {p.Step,5}/{p.TotalSteps}  epoch {p.Epoch}  loss {Format(p.Loss, "F4")}") +
        (p.GradNorm is { } g ? string.Create(CultureInfo.InvariantCulture, $"  grad-norm {g:F3}") : "") +
        string.Create(CultureInfo.InvariantCulture, $"  tokens/s {p.TokensPerSecond,8:F0}") +
        (p.Evaluation is { } e && e.Step == p.Step ? EvaluationParts(e) : "");

    /// <summary>"  val-loss …  val-ppl …  mmlu-acc …" as <c>train-local</c> prints an evaluated step (the parts that were measured).</summary>
    public static string EvaluationParts(JobEvaluation e) =>
        (e.ValidationLoss is { } l ? string.Create(CultureInfo.InvariantCulture, $"  val-loss {l:F4}") : "") +
        (e.ValidationPerplexity is { } p ? string.Create(CultureInfo.InvariantCulture, $"  val-ppl {p:F2}") : "") +
        (e.MultipleChoiceAccuracy is { } a ? string.Create(CultureInfo.InvariantCulture, $"  mmlu-acc {a:F3}") : "");

    /// <summary>The closing lines: final state, step, loss, throughput and (for a finished job) where its stages ran.</summary>
    /// <param name="withMessage">Include the job's message (off where it is printed as the error line instead).</param>
    public static IEnumerable<string> Summary(JobProgress p, bool withMessage = true)
    {
        yield return string.Create(CultureInfo.InvariantCulture,
            $"job {p.JobId} {p.State.ToString().ToLowerInvariant()}: step {p.Step}/{p.TotalSteps}, loss {Format(p.Loss, "F4")}, {p.TokensPerSecond:F0} tokens/s");
        if (withMessage && p.Message is { Length: > 0 } message) yield return $"  {message}";
        if (p.Evaluation is { } evaluation) yield return $"  evaluation at step {evaluation.Step}:{EvaluationParts(evaluation)}";
        if (p.JobSilo is not null)
            yield return $"  job grain on {p.JobSilo}, side trainer on {p.SideSilo ?? "-"}, attempt {p.Attempt}, last checkpoint at step {p.LastCheckpointStep}";
        foreach (var r in p.Recoveries)
            yield return string.Create(CultureInfo.InvariantCulture,
                $"  recovery {r.Attempt} at {r.DetectedAt.UtcDateTime:HH:mm:ss}: resumed from step {r.ResumedFromStep}, first step after {(r.SecondsToFirstStep is { } s ? $"{s:F1} s" : "-")} ({r.Reason})");
        foreach (var (stage, slot) in p.Placement.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            string utilisation = p.StageUtilisation.TryGetValue(stage, out double u) ? string.Create(CultureInfo.InvariantCulture, $", busy {u:P0}") : "";
            yield return $"  stage {stage} on {slot}{utilisation}";
        }
    }

    static string Format(float value, string format) => float.IsNaN(value) ? "-" : value.ToString(format, CultureInfo.InvariantCulture);
}
