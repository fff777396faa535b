using System.CommandLine;
using System.Globalization;
using QstOrleans.Cli.Shared;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Train;

/// <summary>Everything <c>qst train-local</c> needs, as one record (tests build it directly).</summary>
public sealed record TrainLocalSettings
{
    public string? Model { get; init; }
    public string? Data { get; init; }
    public TrainingMethod Method { get; init; } = TrainingMethod.Qst;
    public QstConfig Qst { get; init; } = new();
    public OptimizerConfig Optimizer { get; init; } = new();
    public TrainerConfig Trainer { get; init; } = new();
    public string Dtype { get; init; } = "bf16";
    public bool DoubleQuant { get; init; } = true;
    public int LoraRank { get; init; } = 8;
    public double LoraAlpha { get; init; } = 16;
    public int MaxSourceTokens { get; init; } = 512;
    public int MaxTargetTokens { get; init; } = 512;
    /// <summary>Dataset format: auto, alpaca, chat, text or tokens (see <see cref="DataOptions.ParseFormat"/>).</summary>
    public string Format { get; init; } = "auto";
    /// <summary>Tokens per example and packing block size; 0 = source + target limits.</summary>
    public int MaxLength { get; init; }
    /// <summary>Pack examples into fixed blocks of the maximum length.</summary>
    public bool Pack { get; init; }
    /// <summary>Group examples of similar length into micro-batches.</summary>
    public bool GroupByLength { get; init; }
    /// <summary>Drop bad records (reported) instead of failing.</summary>
    public bool SkipInvalid { get; init; }
    /// <summary>Where to train: cpu, cuda or cuda:N.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>The data options these settings describe.</summary>
    public DataOptions DataOptions() => new(QstOrleans.Data.Datasets.DataOptions.ParseFormat(Format), MaxSourceTokens, MaxTargetTokens,
        MaxLength, Pack, GroupByLength, SkipInvalid);
    /// <summary>Run folder: trainable.safetensors, metrics.jsonl, loss.png and, for QST, the side-network export; null = not saved.</summary>
    public string? Output { get; init; }
    /// <summary>Evaluate every N optimizer steps (0: only after the last step, when a set is given).</summary>
    public int EvalEvery { get; init; }
    /// <summary>File of validation examples (any format; never packed).</summary>
    public string? ValData { get; init; }
    /// <summary>Fraction of the training file held out for validation (0 = none).</summary>
    public double ValFraction { get; init; }
    /// <summary>MMLU-style JSONL file for multiple-choice accuracy.</summary>
    public string? Mmlu { get; init; }
}

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
        var o = new TrainingOptions("");
        var method = new Option<string>("--method") { Description = "qst, lora, qlora or full", DefaultValueFactory = _ => "qst" };
        var loraRank = new Option<int>("--lora-r") { DefaultValueFactory = _ => 8 };
        var loraAlpha = new Option<double>("--lora-alpha") { DefaultValueFactory = _ => 16 };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2 };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N (CUDA needs TorchSharp's CUDA natives)", DefaultValueFactory = _ => "cpu" };
        var output = new Option<string?>("--out") { Description = "Run folder: trainable.safetensors, metrics.jsonl, loss.png, QST side-network export" };
        var evalEvery = new Option<int>("--eval-every") { Description = "Evaluate every N steps (default: after the last step only)", DefaultValueFactory = _ => 0 };
        var valData = new Option<string?>("--val-data") { Description = "Validation file (any format, never packed)" };
        var valFraction = new Option<double>("--val-fraction") { Description = "Hold out this fraction of the training file for validation", DefaultValueFactory = _ => 0 };
        var mmlu = new Option<string?>("--mmlu") { Description = "MMLU-style JSONL (question, choices or A..D, answer) for multiple-choice accuracy" };
        var command = new Command("train-local", "Train in this process (QST or a baseline) and print one line per optimizer step.");
        o.AddTo(command);
        foreach (Option option in new Option[] { method, loraRank, loraAlpha, threads, device, output, evalEvery, valData, valFraction, mmlu }) command.Options.Add(option);
        command.SetAction(p => CliErrors.Run(() =>
        {
            var settings = new TrainLocalSettings
            {
                Model = p.GetValue(o.Model),
                Data = p.GetValue(o.Data),
                Method = ParseMethod(p.GetValue(method)!),
                Qst = new QstConfig { R = p.GetValue(o.R), AdapterBottleneck = p.GetValue(o.Adapter), TrainMergeGate = p.GetValue(o.MergeGate) },
                Optimizer = new OptimizerConfig
                {
                    LearningRate = p.GetValue(o.Lr), Schedule = LrSchedule.ParseKind(p.GetValue(o.Schedule)!), WarmupSteps = p.GetValue(o.Warmup),
                    MaxGradNorm = p.GetValue(o.Clip), WeightDecay = p.GetValue(o.WeightDecay),
                },
                Trainer = new TrainerConfig(p.GetValue(o.Epochs), p.GetValue(o.MaxSteps), p.GetValue(o.MicroBatch), p.GetValue(o.Accumulation),
                    p.GetValue(threads), p.GetValue(o.Seed)),
                Dtype = p.GetValue(o.Dtype)!,
                DoubleQuant = p.GetValue(o.DoubleQuant),
                LoraRank = p.GetValue(loraRank),
                LoraAlpha = p.GetValue(loraAlpha),
                MaxSourceTokens = p.GetValue(o.MaxSource),
                MaxTargetTokens = p.GetValue(o.MaxTarget),
                Format = p.GetValue(o.Format)!,
                MaxLength = p.GetValue(o.MaxLength),
                Pack = p.GetValue(o.Pack),
                GroupByLength = p.GetValue(o.GroupByLength),
                SkipInvalid = p.GetValue(o.SkipInvalid),
                Device = p.GetValue(device)!,
                Output = p.GetValue(output),
                EvalEvery = p.GetValue(evalEvery),
                ValData = p.GetValue(valData),
                ValFraction = p.GetValue(valFraction),
                Mmlu = p.GetValue(mmlu),
            };
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
        string modelDir = s.Model ?? EmbeddedDefaults.EnsureModel();
        string dataFile = s.Data ?? EmbeddedDefaults.EnsureData();
        var config = ModelConfig.Load(modelDir);
        var tokenizer = ModelTokenizer.Load(modelDir);
        var dataOptions = s.DataOptions();
        var allBatches = InstructionBatches.Load(dataFile, tokenizer, dataOptions, s.Trainer.MicroBatchSize, (int)s.Trainer.Seed, modelDir);
        var (batches, validationExamples) = TrainLocalEvaluation.Split(s, allBatches, tokenizer, modelDir, dataFile);
        var validation = validationExamples is null ? null : TrainLocalEvaluation.Batches(batches, validationExamples, s.Trainer.MicroBatchSize);
        var mmlu = s.Mmlu is null ? null : TrainLocalEvaluation.LoadMmlu(s.Mmlu, tokenizer);
        TrainLocalEvaluation.CheckSettings(s, validation is not null, mmlu is not null);
        int microBatches = batches.MicroBatchesPerEpoch;
        if (microBatches < s.Trainer.GradientAccumulation)
            throw new ArgumentException($"{dataFile}: {batches.RowCount} {(dataOptions.Pack ? "packed blocks" : "examples")} make {microBatches} micro-batches of {s.Trainer.MicroBatchSize}, fewer than one optimizer step ({s.Trainer.GradientAccumulation} micro-batches)");
        int stepsPerEpoch = microBatches / s.Trainer.GradientAccumulation;
        int totalSteps = s.Trainer.MaxSteps > 0 ? Math.Min(s.Trainer.MaxSteps, stepsPerEpoch * s.Trainer.Epochs) : stepsPerEpoch * s.Trainer.Epochs;

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

        IEnumerable<MicroBatch> Epoch(int epoch)
        {
            // Only whole accumulation windows: a trailing partial window would never step.
            for (int m = 0; m < stepsPerEpoch * s.Trainer.GradientAccumulation; m++)
            {
                var batch = batches.Get(epoch, m);
                yield return new MicroBatch(batch.InputIds, batch.Labels, batch.AttentionMask, batch.BatchSize, batch.SequenceLength);
            }
        }

        var trainer = new LocalTrainer(model, s.Optimizer, s.Trainer with { MaxSteps = totalSteps });
        foreach (var report in trainer.Train(Epoch, totalSteps, evaluator is null ? null : evaluator.AfterStep))
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
