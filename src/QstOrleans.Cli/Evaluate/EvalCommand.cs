using System.Text.Json.Nodes;
using QstOrleans.Cli.Train;
using QstOrleans.Configuration;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Evaluation;
using QstOrleans.Model.Recipe;
using static TorchSharp.torch;

namespace QstOrleans.Cli.Evaluate;

/// <summary>What <c>qst eval</c> measures (tests build it directly).</summary>
public sealed record EvalSettings
{
    /// <summary>HF model directory of the base model; null = the embedded tiny model.</summary>
    public string? Model { get; init; }
    /// <summary>Side-network export folder: side_model.safetensors + side_config.json (<c>train-local --out</c>, <c>qst export</c>).</summary>
    public required string Side { get; init; }
    /// <summary>Dataset for loss/perplexity (any training format); null with no <see cref="Mmlu"/> = the embedded dataset.</summary>
    public string? Data { get; init; }
    /// <summary>An MMLU-style JSONL file, or a folder whose <c>*.jsonl</c> files are read in name order.</summary>
    public string? Mmlu { get; init; }
    /// <summary>How the data is read (format, lengths, micro-batch size, threads): the <c>--config</c> file, else the
    /// run's <c>training_config.json</c> next to the export, else the defaults.</summary>
    public TrainingConfig Config { get; init; } = TrainingConfig.Defaults;
}

/// <summary>The numbers of one evaluation; a part is null when its set was not given.</summary>
public sealed record EvalResult(ValidationResult? Validation, MultipleChoiceResult? MultipleChoice);

/// <summary>
/// <c>qst eval --side DIR [--model DIR] [--data FILE] [--mmlu FILE|DIR] [--config FILE] [--micro-batch-size N] [--threads N]</c>:
/// the validation loss and perplexity of a trained QST side network on a dataset, and/or its MMLU-style accuracy,
/// computed as <c>train-local</c> computes its evaluation (<see cref="ValidationEvaluator"/>, <see cref="MultipleChoiceEvaluator"/>),
/// so a run's final numbers are reproduced from its export. The export's recorded base model is checked against
/// <c>--model</c>. Exit codes as every verb (<see cref="CliErrors"/>).
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "HF model directory of the base model (default: the embedded tiny model)" };
        var side = new Option<string>("--side") { Description = "Side-network export folder (side_model.safetensors + side_config.json), e.g. a train-local --out folder", Required = true };
        var data = new Option<string?>("--data") { Description = "Dataset for validation loss/perplexity, any training format (default without --mmlu: the embedded dataset)" };
        var mmlu = new Option<string?>("--mmlu") { Description = "MMLU-style JSONL file, or a folder of them, for multiple-choice accuracy" };
        var config = new Option<string?>("--config") { Description = $"Training config for the data options and micro-batch size (default: the export folder's {RunFolder.ConfigFile}, else the defaults)" };
        var microBatch = new Option<int?>("--micro-batch-size") { Description = "Examples per forward pass [schedule.micro_batch_size]" };
        var threads = new Option<int?>("--threads") { Description = "libtorch threads [runtime.threads]" };
        var command = new Command("eval", "Evaluate a trained QST side network: loss/perplexity on a dataset and/or MMLU-style accuracy.")
        {
            model, side, data, mmlu, config, microBatch, threads,
        };
        command.SetAction(p => CliErrors.Run(() =>
        {
            string sideDir = p.GetValue(side)!;
            var overrides = new List<KeyValuePair<string, JsonNode?>>();
            if (p.GetValue(microBatch) is { } b) overrides.Add(KeyValuePair.Create("schedule.micro_batch_size", (JsonNode?)b));
            if (p.GetValue(threads) is { } t) overrides.Add(KeyValuePair.Create("runtime.threads", (JsonNode?)t));
            var settings = new EvalSettings
            {
                Model = p.GetValue(model), Side = sideDir, Data = p.GetValue(data), Mmlu = p.GetValue(mmlu),
                Config = TrainingConfigFile.Load(p.GetValue(config) ?? RunConfig(sideDir), overrides),
            };
            foreach (var line in Describe(Run(settings, Console.Out))) Console.WriteLine(line);
            return 0;
        }));
        return command;
    }

    /// <summary>The run's config next to an export written by <c>train-local --out</c>, if there is one.</summary>
    static string? RunConfig(string sideDirectory)
    {
        string path = Path.Combine(sideDirectory, RunFolder.ConfigFile);
        return File.Exists(path) ? path : null;
    }

    /// <summary>Loads the base model and the side network, evaluates the sets; progress lines go to <paramref name="log"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">No export folder at <see cref="EvalSettings.Side"/>.</exception>
    public static EvalResult Run(EvalSettings s, TextWriter? log = null)
    {
        if (!Directory.Exists(s.Side)) throw new DirectoryNotFoundException($"--side: '{s.Side}' is not a folder (a side-network export: {SideNetworkExport.WeightsFile} + {SideNetworkExport.ConfigFile})");
        var mmluFiles = MmluFiles(s.Mmlu);
        string? dataFile = s.Data ?? (s.Mmlu is null ? EmbeddedDefaults.EnsureData() : null);
        string modelDir = s.Model ?? EmbeddedDefaults.EnsureModel();
        s.Config.Validate();
        set_num_threads(s.Config.Runtime.Threads);
        // The sets first: a bad file is refused before the weights are read.
        var tokenizer = ModelTokenizer.Load(modelDir);
        var sets = EvaluationSets.FromFiles(s.Config, tokenizer, modelDir, dataFile, mmluFiles);
        using var qst = SideNetworkExport.LoadModel(s.Side, modelDir);
        log?.WriteLine($"evaluating the side network in {s.Side} ({qst.Side.TrainableParameterCount:N0} parameters) on {qst.Side.Model.Name}" +
                       (dataFile is null ? "" : $", {sets.ValidationExamples!.Count} examples of {dataFile}") +
                       (sets.MultipleChoice is null ? "" : $", {sets.MultipleChoice.Items.Count} MMLU questions"));
        var validation = sets.Validation is null ? null : ValidationEvaluator.Evaluate(qst, sets.Validation);
        var mc = sets.MultipleChoice is not { } m ? null
            : MultipleChoiceEvaluator.Evaluate(qst, m.Items, m.ChoiceTokenIds, s.Config.Schedule.MicroBatchSize, m.PadId);
        return new EvalResult(validation, mc);
    }

    /// <summary>The result lines: what <c>train-local</c> prints after its last step (val-loss, val-ppl, mmlu-acc), with the counts.</summary>
    public static IEnumerable<string> Describe(EvalResult r)
    {
        if (r.Validation is { } v)
            yield return string.Create(CultureInfo.InvariantCulture, $"val-loss {v.Loss:F4}  val-ppl {v.Perplexity:F2}  ({v.Tokens} tokens)");
        if (r.MultipleChoice is { } m)
            yield return string.Create(CultureInfo.InvariantCulture, $"mmlu-acc {m.Accuracy:F3}  ({m.Correct}/{m.Total})");
    }

    /// <summary>The MMLU file, or a folder's <c>*.jsonl</c> files in name order; none for null.</summary>
    static IReadOnlyList<string> MmluFiles(string? path)
    {
        if (path is null) return [];
        if (File.Exists(path)) return [path];
        if (!Directory.Exists(path)) throw new FileNotFoundException($"--mmlu: '{path}' is neither a file nor a folder", path);
        var files = Directory.GetFiles(path, "*.jsonl").Order(StringComparer.Ordinal).ToList();
        return files.Count > 0 ? files : throw new FileNotFoundException($"--mmlu: the folder '{path}' holds no .jsonl file", path);
    }
}
