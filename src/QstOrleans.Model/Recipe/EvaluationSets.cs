using QstOrleans.Configuration;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Evaluation;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Evaluation;
using QstOrleans.Model.Training;

namespace QstOrleans.Model.Recipe;

/// <summary>
/// The evaluation part of the single-process recipe: the validation set (a file of its own, or
/// <c>evaluation.val_fraction</c> split off the training file), the MMLU-style set, and the hook that evaluates them
/// every <c>evaluation.every_steps</c> steps (and after the last step). Messages name the <c>qst train-local</c> options.
/// </summary>
/// <param name="ValidationExamples">The validation examples in file order (null = no validation set).</param>
/// <param name="Validation">The same examples cut into micro-batches, each [B, T] (the last may be smaller).</param>
/// <param name="MultipleChoice">The tokenized MMLU-style set (null = none).</param>
public sealed record EvaluationSets(IReadOnlyList<TokenizedExample>? ValidationExamples, IReadOnlyList<MicroBatch>? Validation,
    MultipleChoiceSet? MultipleChoice)
{
    /// <summary>Whether there is anything to evaluate.</summary>
    public bool Any => Validation is not null || MultipleChoice is not null;

    /// <summary>Splits the validation set off (or loads it), loads the MMLU-style set and checks the evaluation keys.</summary>
    /// <param name="all">The whole training file's batches.</param>
    /// <param name="validationFile">A separate validation file (any format, never packed); null = none.</param>
    /// <param name="mmluFile">An MMLU-style JSONL file; null = none.</param>
    /// <returns>The training batches left (validation examples removed) and the sets.</returns>
    /// <exception cref="ArgumentException">Both validation sources, a bad fraction or split, or <c>--eval-every</c> without a set.</exception>
    public static (InstructionBatches Train, EvaluationSets Sets) Load(TrainingConfig config, InstructionBatches all, ModelTokenizer tokenizer,
        string modelDirectory, string dataFile, string? validationFile, string? mmluFile)
    {
        int microBatchSize = config.Schedule.MicroBatchSize;
        var (train, examples) = Split(config.Evaluation.ValFraction, microBatchSize, all, tokenizer, modelDirectory, dataFile, validationFile);
        var validation = examples is null ? null : Batches(train, examples, microBatchSize);
        var mmlu = mmluFile is null ? null : LoadMmlu(mmluFile, tokenizer);
        var sets = new EvaluationSets(examples, validation, mmlu);
        sets.Check(config.Evaluation.EverySteps);
        return (train, sets);
    }

    /// <summary>
    /// The sets of a stand-alone evaluation (<c>qst eval</c>): a validation file read exactly as <c>--val-data</c> is during
    /// training (the config's data options, never packed, in micro-batches of <c>schedule.micro_batch_size</c>) and/or
    /// MMLU-style files (their questions in order, file after file).
    /// </summary>
    public static EvaluationSets FromFiles(TrainingConfig config, ModelTokenizer tokenizer, string modelDirectory, string? validationFile,
        IReadOnlyList<string> mmluFiles)
    {
        int microBatchSize = config.Schedule.MicroBatchSize;
        var data = validationFile is null ? null
            : DataPlan.LoadValidation(validationFile, tokenizer, DataPlan.Options(config.Data), microBatchSize, modelDirectory);
        var mmlu = mmluFiles.Count == 0 ? null : LoadMmlu(mmluFiles, tokenizer);
        return new EvaluationSets(data?.Examples, data is null ? null : Batches(data, data.Examples, microBatchSize), mmlu);
    }

    /// <summary>The trainer's hook, or null when nothing is to be evaluated.</summary>
    public PeriodicEvaluator? Evaluator(ITrainableModel model, int everySteps, int totalSteps, int microBatchSize)
    {
        Check(everySteps);
        if (!Any) return null;
        // Without evaluation.every_steps the sets are evaluated once, after the last step.
        int every = everySteps > 0 ? everySteps : int.MaxValue;
        return new PeriodicEvaluator(model, every, totalSteps, Validation, MultipleChoice, microBatchSize);
    }

    /// <summary>Checks <c>evaluation.every_steps</c> against the sets (before the model is loaded).</summary>
    /// <exception cref="ArgumentException">Negative, or given without a set to evaluate.</exception>
    void Check(int everySteps)
    {
        if (everySteps < 0) throw new ArgumentException($"--eval-every must be >= 0, got {everySteps}");
        if (everySteps > 0 && !Any)
            throw new ArgumentException("--eval-every needs something to evaluate: --val-data, --val-fraction or --mmlu");
    }

    static (InstructionBatches Train, IReadOnlyList<TokenizedExample>? Validation) Split(double fraction, int microBatchSize,
        InstructionBatches all, ModelTokenizer tokenizer, string modelDirectory, string dataFile, string? validationFile)
    {
        if (validationFile is not null && fraction > 0) throw new ArgumentException("give --val-data or --val-fraction, not both");
        // Validation examples are scored one by one (never packed), with the training file's truncation.
        if (validationFile is not null)
            return (all, DataPlan.LoadValidation(validationFile, tokenizer, all.Options, microBatchSize, modelDirectory).Examples);
        if (fraction == 0) return (all, null);
        if (fraction is < 0 or >= 1) throw new ArgumentException($"--val-fraction must be in (0, 1), got {fraction}");
        // Example i is held out when floor((i+1)·F) > floor(i·F): evenly spread through the file, deterministic,
        // floor(n·F) examples, independent of the seed (the same validation set for every run on this file).
        bool HeldOut(int i) => Math.Floor((i + 1) * fraction) > Math.Floor(i * fraction);
        var validation = all.Examples.Where((_, i) => HeldOut(i)).ToList();
        int trainCount = all.ExampleCount - validation.Count;
        if (validation.Count == 0 || trainCount == 0)
            throw new ArgumentException($"{dataFile}: --val-fraction {fraction} of {all.ExampleCount} examples leaves {trainCount} for training and {validation.Count} for validation");
        var train = all.Where(i => !HeldOut(i), $"{all.Summary}; {validation.Count} held out for validation");
        return (train, validation);
    }

    /// <summary>The validation examples in file order, cut into micro-batches (the last may be smaller).</summary>
    static IReadOnlyList<MicroBatch> Batches(InstructionBatches data, IReadOnlyList<TokenizedExample> examples, int microBatchSize) =>
        examples.Chunk(microBatchSize).Select(chunk =>
        {
            var b = data.Collate(chunk);                                             // [B, T] arrays
            return new MicroBatch(b.InputIds, b.Labels, b.AttentionMask, b.BatchSize, b.SequenceLength);
        }).ToList();

    /// <summary>Loads and tokenizes an MMLU-style file (see <see cref="MmluFile"/>).</summary>
    static MultipleChoiceSet LoadMmlu(string file, ModelTokenizer tokenizer) => LoadMmlu([file], tokenizer);

    static MultipleChoiceSet LoadMmlu(IReadOnlyList<string> files, ModelTokenizer tokenizer)
    {
        var questions = files.SelectMany(MmluFile.Load).ToList();
        var items = questions.Select(q => new MultipleChoiceItem(MmluPrompt.Encode(tokenizer, q), q.Answer)).ToList();
        return new MultipleChoiceSet(items, MmluPrompt.LetterTokenIds(tokenizer), tokenizer.PadId);
    }
}
