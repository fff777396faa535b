using QstOrleans.Configuration;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Datasets.Cache;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Training;

namespace QstOrleans.Model.Recipe;

/// <summary>
/// The data part of the training recipe, written once: tokenize the file into micro-batches (the seeded order of
/// <see cref="InstructionBatches"/>), keep only whole accumulation windows per epoch, count the optimizer steps. The
/// single-process trainer runs it directly (after splitting off its validation set) and the job grain's plan calls the
/// same code, so both feed the same micro-batches in the same order.
/// </summary>
/// <param name="Batches">The training micro-batches (validation examples already removed).</param>
/// <param name="StepsPerEpoch">Whole optimizer steps per pass over the data.</param>
/// <param name="TotalSteps">Optimizer steps of the run: all epochs, capped by <c>schedule.max_steps</c>.</param>
/// <param name="GradientAccumulation">Micro-batches per optimizer step.</param>
public sealed record DataPlan(InstructionBatches Batches, int StepsPerEpoch, int TotalSteps, int GradientAccumulation)
{
    /// <summary>Micro-batches per epoch that belong to whole accumulation windows (a trailing partial window would never step).</summary>
    public int MicroBatchesPerEpoch => StepsPerEpoch * GradientAccumulation;
    /// <summary>Micro-batches the whole run consumes.</summary>
    public int TotalMicroBatches => TotalSteps * GradientAccumulation;

    /// <summary>The loader's options for the <c>data</c> section.</summary>
    public static DataOptions Options(DataSection d) =>
        new(DataOptions.ParseFormat(d.Format), d.MaxSourceTokens, d.MaxTargetTokens, d.MaxLength, d.Pack, d.GroupByLength, d.SkipInvalid,
            string.IsNullOrWhiteSpace(d.ChatTemplate) ? null : d.ChatTemplate);

    /// <summary>
    /// Reads the training file into seeded micro-batches of <c>schedule.micro_batch_size</c>: from its token cache when
    /// one matches (no parse, no tokenizer: starts and resumes), else tokenized on every core and cached
    /// (<see cref="TokenCache"/>).
    /// </summary>
    /// <param name="modelDirectory">For the chat template and special tokens.</param>
    /// <param name="cache">Null = <see cref="TokenCacheOptions.Default"/> (beside the data file, progress on a terminal).</param>
    public static InstructionBatches Load(TrainingConfig config, string dataFile, ModelTokenizer tokenizer, string modelDirectory,
        TokenCacheOptions? cache = null) =>
        InstructionBatches.Load(dataFile, tokenizer, Options(config.Data), config.Schedule.MicroBatchSize, (int)config.Schedule.Seed, modelDirectory,
            cache ?? TokenCacheOptions.Default);

    /// <summary>
    /// Reads a validation file (<c>--val-data</c>, <c>qst eval</c>) with <paramref name="options"/> (the training file's,
    /// never packed) through the same token cache as the training file, so restarts and resumes tokenize it only once.
    /// </summary>
    public static InstructionBatches LoadValidation(string validationFile, ModelTokenizer tokenizer, DataOptions options, int microBatchSize,
        string modelDirectory, TokenCacheOptions? cache = null) =>
        InstructionBatches.Load(validationFile, tokenizer, options with { Pack = false }, microBatchSize, 0, modelDirectory,
            cache ?? TokenCacheOptions.Default);

    /// <summary>
    /// Refuses token ids the model cannot embed (a pre-tokenized file written for another vocabulary, a tokenizer larger
    /// than the model): found here, the error names the file and example; found in training, it is a native index error.
    /// </summary>
    /// <exception cref="ArgumentException">The first example holding an id outside [0, <paramref name="vocabSize"/>).</exception>
    public static void CheckVocabulary(InstructionBatches batches, int vocabSize, string dataFile)
    {
        if (batches.PadId < 0 || batches.PadId >= vocabSize)
            throw new ArgumentException($"{dataFile}: the padding token id {batches.PadId} is outside the model's vocabulary (0..{vocabSize - 1})");
        if (batches.IdsProvenBelow(vocabSize)) return;                          // a cache hit: one pass, no example copied
        for (int e = 0; e < batches.Examples.Count; e++)
        {
            var example = batches.Examples[e];
            foreach (int id in example.InputIds)
                if ((uint)id >= (uint)vocabSize)
                    throw new ArgumentException($"{dataFile}: example {e + 1}: token id {id} is outside the model's vocabulary (0..{vocabSize - 1})");
            foreach (int id in example.Labels)
                if (id != -100 && (uint)id >= (uint)vocabSize)
                    throw new ArgumentException($"{dataFile}: example {e + 1}: label id {id} is outside the model's vocabulary (0..{vocabSize - 1}; -100 = ignored)");
        }
    }

    /// <summary>Counts the steps of <paramref name="batches"/> under the <c>schedule</c> section.</summary>
    /// <exception cref="ArgumentException">The data makes no whole optimizer step (the message names the file).</exception>
    public static DataPlan For(InstructionBatches batches, ScheduleSection schedule, string dataFile)
    {
        int microBatches = batches.MicroBatchesPerEpoch;
        if (microBatches < schedule.GradientAccumulation)
            throw new ArgumentException($"{dataFile}: {batches.RowCount} {(batches.Options.Pack ? "packed blocks" : "examples")} make {microBatches} " +
                                        $"micro-batches of {schedule.MicroBatchSize}, fewer than one optimizer step ({schedule.GradientAccumulation} micro-batches)");
        int stepsPerEpoch = microBatches / schedule.GradientAccumulation;
        int totalSteps = stepsPerEpoch * schedule.Epochs;
        if (schedule.MaxSteps > 0) totalSteps = Math.Min(totalSteps, schedule.MaxSteps);
        return new DataPlan(batches, stepsPerEpoch, totalSteps, schedule.GradientAccumulation);
    }

    /// <summary>Epoch <paramref name="epoch"/>'s micro-batches in training order (whole accumulation windows only).</summary>
    public IEnumerable<MicroBatch> Epoch(int epoch)
    {
        for (int m = 0; m < MicroBatchesPerEpoch; m++)
        {
            var batch = Batches.Get(epoch, m);                                       // [B, T] arrays
            yield return new MicroBatch(batch.InputIds, batch.Labels, batch.AttentionMask, batch.BatchSize, batch.SequenceLength);
        }
    }
}
