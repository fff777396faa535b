using QstOrleans.Data.Datasets;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Train;

/// <summary>
/// <c>qst train-local</c>: the single-process trainer. Without <c>--model</c>/<c>--data</c> it uses the
/// embedded default (tiny Llama + synthetic dataset, made on first use). The data may be in any format
/// <see cref="InstructionBatches"/> reads (<c>--format</c>, <c>--max-length</c>, <c>--pack</c>, <c>--group-by-length</c>,
/// <c>--skip-invalid</c>); its kept/dropped/truncated report is the first line. Prints one line per step:
/// step, epoch, loss, lr, grad norm, tokens/s, peak memory, plus val-loss/val-ppl/mmlu-acc on evaluated steps
/// (<c>--eval-every</c>, <c>--val-data</c>/<c>--val-fraction</c>, <c>--mmlu</c>). With <c>--out DIR</c> it writes a run
/// folder (see <see cref="RunFolder"/>). The first Ctrl+C stops after the step in progress, saves the run folder (without
/// <c>--out</c>: under <see cref="InterruptedRoot"/>) and exits 130; a second one exits at once.
/// </summary>
internal static class TrainLocalCommand
{
    public static Command Create()
    {
        // Layout keys (stages, window, checkpoints, backbone format) belong to `qst train`; the file may still set them.
        var o = new TrainingOptions("", key => !key.StartsWith("pipeline.") && !key.StartsWith("checkpoint.") && key != "precision.backbone_format");
        var output = new Option<string?>("--out") { Description = "Run folder: trainable.safetensors, training_config.json, metrics.jsonl, loss.png, QST side-network export" };
        var valData = new Option<string?>("--val-data") { Description = "Validation file (any format, never packed)" };
        var mmlu = new Option<string?>("--mmlu") { Description = "MMLU-style JSONL (question, choices or A..D, answer) for multiple-choice accuracy" };
        var command = new Command("train-local", "Train in this process (QST or a baseline) and print one line per optimizer step.");
        o.AddTo(command);
        foreach (Option option in new Option[] { output, valData, mmlu }) command.Options.Add(option);
        command.SetAction((p, cancel) => Task.FromResult(CliErrors.Run(() =>
        {
            var settings = new TrainLocalSettings
            {
                Model = p.GetValue(o.Model),
                Data = p.GetValue(o.Data),
                Config = o.Resolve(p),
                Output = p.GetValue(output),
                ValData = p.GetValue(valData),
                Mmlu = p.GetValue(mmlu),
            };
            Console.WriteLine(TrainingOptions.Announce(settings.Config));
            // Process-wide, before the model's first native allocation (see NativeAllocatorTuning).
            QstOrleans.Model.Devices.NativeAllocatorTuning.ApplyOnce(settings.Config.Runtime.AllocatorTuning);
            int code = 0;
            foreach (var line in Run(settings, [], cancel))
            {
                if (line.StartsWith(InterruptedLine, StringComparison.Ordinal)) code = Interrupts.ExitCode;
                Console.WriteLine(line);
            }
            return code;
        })));
        return Interrupts.StopsCleanly(command);
    }

    /// <summary>The line an interrupted run prints before it saves its folder.</summary>
    public const string InterruptedLine = "interrupted after step";

    /// <summary>Where an interrupted run without <c>--out</c> saves its run folder (one sub-folder per run).</summary>
    public static string InterruptedRoot => Path.Combine(EmbeddedDefaults.Root, "interrupted");

    /// <summary>Reads <c>method.name</c> (see <see cref="TrainingMethods.Parse"/>).</summary>
    public static TrainingMethod ParseMethod(string name) => TrainingMethods.Parse(name);

    /// <summary>Runs the training and yields the printed lines (the header, one per step, the summary).</summary>
    public static IEnumerable<string> Run(TrainLocalSettings s)
    {
        var steps = new List<StepReport>();
        return Run(s, steps);
    }

    /// <summary>As <see cref="Run(TrainLocalSettings)"/>, also collecting the step reports. Once <paramref name="cancel"/>
    /// fires it stops after the step in progress, prints <see cref="InterruptedLine"/> and saves the run folder.</summary>
    public static IEnumerable<string> Run(TrainLocalSettings s, List<StepReport> reports, CancellationToken cancel = default)
    {
        string modelDir = s.Model ?? EmbeddedDefaults.EnsureModel();
        string dataFile = s.Data ?? EmbeddedDefaults.EnsureData();
        // The engine's recipe does the work; this command prints it and writes the run folder.
        using var recipe = LocalRecipe.Setup(s.Config, modelDir, dataFile, s.ValData, s.Mmlu);
        var (config, batches, evaluation) = (recipe.ModelConfig, recipe.Plan.Batches, recipe.Evaluation);
        var dataOptions = s.DataOptions();
        yield return $"data: {batches.Summary}";
        yield return $"{recipe.Build.Method} on {config.Name} (H={config.HiddenSize}, layers={config.NumLayers}, vocab={config.VocabSize}), " +
                     $"{recipe.TrainableParameterCount:N0} trainable parameters, {batches.ExampleCount} examples" +
                     (dataOptions.Pack ? $" in {batches.RowCount} blocks of {dataOptions.EffectiveMaxLength} tokens" : "") + ", " +
                     $"{recipe.Plan.TotalSteps} steps, micro-batch {s.Trainer.MicroBatchSize} x {s.Trainer.GradientAccumulation}, {recipe.Build.Compute}";
        if (evaluation.Any)
            yield return $"evaluation: {(evaluation.ValidationExamples is null ? "no validation set" : $"{evaluation.ValidationExamples.Count} validation examples")}, " +
                         $"{(evaluation.MultipleChoice is null ? "no MMLU" : $"{evaluation.MultipleChoice.Items.Count} MMLU questions")}, " +
                         (s.EvalEvery > 0 ? $"every {s.EvalEvery} steps and after the last" : "after the last step");
        using var metrics = s.Output is null ? null : RunFolder.OpenMetrics(s.Output);
        if (s.Output is not null) RunFolder.SaveConfig(s.Output, s.Config);

        string? output = s.Output;
        foreach (var report in recipe.Train())
        {
            reports.Add(report);
            metrics?.Write(report);
            yield return string.Create(CultureInfo.InvariantCulture,
                $"step {report.Step,5}  epoch {report.Epoch}  loss {report.Loss:F4}  lr {report.LearningRate:E2}  grad-norm {report.GradNorm:F3}  tokens/s {report.TokensPerSecond,8:F0}  peak-rss {report.PeakMemoryBytes / (1 << 20)} MiB")
                + TrainLocalEvaluation.Format(report.Evaluation)
                + (report.Skipped ? "  warning: non-finite loss or gradient, update skipped (optimizer.non_finite = skip)" : "");
            // Checked between steps (the lazy step loop stops here): the weights are those of a whole optimizer step.
            if (cancel.IsCancellationRequested && report.Step < recipe.Plan.TotalSteps)
            {
                output ??= Path.Combine(InterruptedRoot, $"train-local-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
                yield return $"{InterruptedLine} {report.Step} of {recipe.Plan.TotalSteps}: saving the run folder {output}";
                break;
            }
        }
        if (output is null) yield break;
        metrics?.Dispose();
        if (s.Output is null)
        {
            // The interrupted run without --out: its folder gets what --out would have written along the way.
            RunFolder.SaveConfig(output, s.Config);
            using var late = RunFolder.OpenMetrics(output);
            foreach (var report in reports) late.Write(report);
        }
        foreach (var line in RunFolder.Save(output, recipe.Model, config, modelDir, recipe.SideNetworkTraining, reports)) yield return line;
    }
}
