using QstOrleans.Data.Datasets;
using QstOrleans.Data.Evaluation;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Evaluation;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Train;

/// <summary>
/// The evaluation side of <c>qst train-local</c>: the validation set (<c>--val-data FILE</c>, or
/// <c>--val-fraction F</c> split off the training file), the MMLU-style set (<c>--mmlu FILE</c>) and the hook
/// that evaluates them every <c>--eval-every N</c> steps (and after the last step).
/// </summary>
internal static class TrainLocalEvaluation
{
    /// <summary>The training batches left and the validation examples, as the settings ask.</summary>
    /// <exception cref="ArgumentException">Both sources given, a fraction outside (0, 1), or a split leaving either side empty.</exception>
    public static (InstructionBatches Train, IReadOnlyList<TokenizedExample>? Validation) Split(
        TrainLocalSettings s, InstructionBatches all, ModelTokenizer tokenizer, string modelDirectory, string dataFile)
    {
        if (s.ValData is not null && s.ValFraction > 0) throw new ArgumentException("give --val-data or --val-fraction, not both");
        // Validation examples are scored one by one (never packed), with the training file's truncation.
        if (s.ValData is not null)
            return (all, InstructionBatches.Load(s.ValData, tokenizer, all.Options with { Pack = false }, s.Trainer.MicroBatchSize, 0, modelDirectory).Examples);
        if (s.ValFraction == 0) return (all, null);
        if (s.ValFraction is < 0 or >= 1) throw new ArgumentException($"--val-fraction must be in (0, 1), got {s.ValFraction}");
        // Example i is held out when floor((i+1)·F) > floor(i·F): evenly spread through the file, deterministic,
        // floor(n·F) examples, independent of the seed (the same validation set for every run on this file).
        bool HeldOut(int i) => Math.Floor((i + 1) * s.ValFraction) > Math.Floor(i * s.ValFraction);
        var validation = all.Examples.Where((_, i) => HeldOut(i)).ToList();
        int trainCount = all.ExampleCount - validation.Count;
        if (validation.Count == 0 || trainCount == 0)
            throw new ArgumentException($"{dataFile}: --val-fraction {s.ValFraction} of {all.ExampleCount} examples leaves {trainCount} for training and {validation.Count} for validation");
        var train = all.Where(i => !HeldOut(i), $"{all.Summary}; {validation.Count} held out for validation");
        return (train, validation);
    }

    /// <summary>The validation examples in file order, cut into micro-batches (the last may be smaller).</summary>
    public static IReadOnlyList<MicroBatch> Batches(InstructionBatches data, IReadOnlyList<TokenizedExample> examples, int microBatchSize) =>
        examples.Chunk(microBatchSize).Select(chunk =>
        {
            var b = data.Collate(chunk);
            return new MicroBatch(b.InputIds, b.Labels, b.AttentionMask, b.BatchSize, b.SequenceLength);
        }).ToList();

    /// <summary>Loads and tokenizes an MMLU-style file (see <see cref="MmluFile"/>).</summary>
    public static MultipleChoiceSet LoadMmlu(string file, ModelTokenizer tokenizer)
    {
        var questions = MmluFile.Load(file);
        var items = questions.Select(q => new MultipleChoiceItem(MmluPrompt.Encode(tokenizer, q), q.Answer)).ToList();
        return new MultipleChoiceSet(items, MmluPrompt.LetterTokenIds(tokenizer), tokenizer.PadId);
    }

    /// <summary>Checks the evaluation options before the model is loaded.</summary>
    /// <exception cref="ArgumentException"><c>--eval-every</c> negative, or given without a set to evaluate.</exception>
    public static void CheckSettings(TrainLocalSettings s, bool hasValidation, bool hasMmlu)
    {
        if (s.EvalEvery < 0) throw new ArgumentException($"--eval-every must be >= 0, got {s.EvalEvery}");
        if (s.EvalEvery > 0 && !hasValidation && !hasMmlu)
            throw new ArgumentException("--eval-every needs something to evaluate: --val-data, --val-fraction or --mmlu");
    }

    /// <summary>The hook for the trainer, or null when nothing is to be evaluated.</summary>
    public static PeriodicEvaluator? Evaluator(TrainLocalSettings s, ITrainableModel model, int totalSteps,
        IReadOnlyList<MicroBatch>? validation, MultipleChoiceSet? mmlu)
    {
        CheckSettings(s, validation is not null, mmlu is not null);
        if (validation is null && mmlu is null) return null;
        // Without --eval-every the sets are evaluated once, after the last step.
        int every = s.EvalEvery > 0 ? s.EvalEvery : int.MaxValue;
        return new PeriodicEvaluator(model, every, totalSteps, validation, mmlu, s.Trainer.MicroBatchSize);
    }

    /// <summary>The evaluation part of a step line ("" when the step was not evaluated).</summary>
    public static string Format(EvaluationReport? e)
    {
        if (e is null) return "";
        var parts = new List<string>();
        if (e.ValidationLoss is { } l) parts.Add(string.Create(CultureInfo.InvariantCulture, $"val-loss {l:F4}"));
        if (e.ValidationPerplexity is { } p) parts.Add(string.Create(CultureInfo.InvariantCulture, $"val-ppl {p:F2}"));
        if (e.MultipleChoiceAccuracy is { } a) parts.Add(string.Create(CultureInfo.InvariantCulture, $"mmlu-acc {a:F3}"));
        return "  " + string.Join("  ", parts);
    }
}
