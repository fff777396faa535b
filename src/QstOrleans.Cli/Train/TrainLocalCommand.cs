using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Train;

/// <summary>
/// <c>qst train-local</c>: the single-process trainer. Without <c>--model</c>/<c>--data</c> it uses the
/// embedded default (tiny Llama + synthetic dataset, made on first use). The data may be in any format
/// <see cref="InstructionBatches"/> reads (<c>--format</c>, <c>--max-length</c>, <c>--pack</c>, <c>--group-by-length</c>,
/// <c>--skip-invalid</c>); its kept/dropped/truncated report is the first line. Prints one line per step:
/// step, epoch, loss, lr, grad norm, tokens/s, peak memory, plus val-loss/val-ppl/mmlu-acc on evaluated steps
/// (<c>--eval-every</c>, <c>--val-data</c>/<c>--val-fraction</c>, <c>--mmlu</c>). With <c>--out DIR</c> it writes a run
/// folder (see <see cref="RunFolder"/>).
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
        command.SetAction(p => CliErrors.Run(() =>
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
            foreach (var line in Run(settings)) Console.WriteLine(line);
            return 0;
        }));
        return command;
    }

    public static TrainingMethod ParseMethod(string name) => name.ToLowerInvariant() switch
    {
        "qst" => TrainingMethod.Qst,
        "lora" => TrainingMethod.Lora,
        "qlora" => TrainingMethod.QLora,
        "full" => TrainingMethod.Full,
        _ => throw new ArgumentException($"--method: unknown method '{name}' (qst, lora, qlora, full)"),
    };

    /// <summary>Runs the training and yields the printed lines (the header, one per step, the summary).</summary>
    public static IEnumerable<string> Run(TrainLocalSettings s)
    {
        var steps = new List<StepReport>();
        return Run(s, steps);
    }

    /// <summary>As <see cref="Run(TrainLocalSettings)"/>, also collecting the step reports.</summary>
    public static IEnumerable<string> Run(TrainLocalSettings s, List<StepReport> reports)
    {
        s.Config.Validate();
        string modelDir = s.Model ?? EmbeddedDefaults.EnsureModel();
        string dataFile = s.Data ?? EmbeddedDefaults.EnsureData();
        var config = ModelConfig.Load(modelDir);
        var tokenizer = ModelTokenizer.Load(modelDir);
        var dataOptions = s.DataOptions();
        var allBatches = DataPlan.Load(s.Config, dataFile, tokenizer, modelDir);
        var (batches, validationExamples) = TrainLocalEvaluation.Split(s, allBatches, tokenizer, modelDir, dataFile);
        var validation = validationExamples is null ? null : TrainLocalEvaluation.Batches(batches, validationExamples, s.Trainer.MicroBatchSize);
        var mmlu = s.Mmlu is null ? null : TrainLocalEvaluation.LoadMmlu(s.Mmlu, tokenizer);
        TrainLocalEvaluation.CheckSettings(s, validation is not null, mmlu is not null);
        // The recipe's data plan (the job grain's plan runs the same code).
        var plan = DataPlan.For(batches, s.Config.Schedule, dataFile);
        int totalSteps = plan.TotalSteps;

        var precision = Precision.Parse(s.Dtype);
        var build = new ModelBuildOptions(s.Method, s.Qst, precision, s.DoubleQuant, LoraRank: s.LoraRank, LoraAlpha: s.LoraAlpha, Seed: s.Trainer.Seed,
            Device: Model.Devices.ComputeDevice.Parse(s.Device));
        yield return $"data: {batches.Summary}";
        using var model = ModelBuilder.Build(modelDir, config, build);
        long trainable = model.TrainableParameters.Sum(p => p.numel());
        yield return $"{s.Method} on {config.Name} (H={config.HiddenSize}, layers={config.NumLayers}, vocab={config.VocabSize}), " +
                     $"{trainable:N0} trainable parameters, {batches.ExampleCount} examples" +
                     (dataOptions.Pack ? $" in {batches.RowCount} blocks of {dataOptions.EffectiveMaxLength} tokens" : "") + ", " +
                     $"{totalSteps} steps, micro-batch {s.Trainer.MicroBatchSize} x {s.Trainer.GradientAccumulation}, {precision}";
        if (validationExamples is not null || mmlu is not null)
            yield return $"evaluation: {(validationExamples is null ? "no validation set" : $"{validationExamples.Count} validation examples")}, " +
                         $"{(mmlu is null ? "no MMLU" : $"{mmlu.Items.Count} MMLU questions")}, " +
                         (s.EvalEvery > 0 ? $"every {s.EvalEvery} steps and after the last" : "after the last step");
        var evaluator = TrainLocalEvaluation.Evaluator(s, model, totalSteps, validation, mmlu);
        using var metrics = s.Output is null ? null : RunFolder.OpenMetrics(s.Output);
        if (s.Output is not null) RunFolder.SaveConfig(s.Output, s.Config);

        var trainer = new LocalTrainer(model, s.Optimizer, s.Trainer with { MaxSteps = totalSteps });
        foreach (var report in trainer.Train(plan.Epoch, totalSteps, evaluator is null ? null : evaluator.AfterStep))
        {
            reports.Add(report);
            metrics?.Write(report);
            yield return string.Create(CultureInfo.InvariantCulture,
                $"step {report.Step,5}  epoch {report.Epoch}  loss {report.Loss:F4}  lr {report.LearningRate:E2}  grad-norm {report.GradNorm:F3}  tokens/s {report.TokensPerSecond,8:F0}  peak-rss {report.PeakMemoryBytes / (1 << 20)} MiB")
                + TrainLocalEvaluation.Format(report.Evaluation);
        }
        if (s.Output is not null)
        {
            metrics!.Dispose();
            var training = new SideNetworkTraining(precision, s.Trainer.Seed, build.BackboneFormat, s.DoubleQuant);
            foreach (var line in RunFolder.Save(s.Output, model, config, modelDir, training, reports)) yield return line;
        }
    }
}
