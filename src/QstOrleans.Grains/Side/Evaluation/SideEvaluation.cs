using QstOrleans.Data.Tokenization;
using QstOrleans.Grains.Transport;
using QstOrleans.Model.Evaluation;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Grains.Side.Evaluation;

/// <summary>
/// A cluster job's evaluation, run by the side trainer's worker between optimizer steps: every
/// <c>evaluation.every_steps</c> steps and after the last one, as <c>qst train-local</c> does. Each validation (or MMLU)
/// micro-batch goes forward only through the job's stage grains, one after the other (<see cref="IBackboneStageGrain.ForwardOnly"/>:
/// full taps, off the training queues), then through the side network in eval mode without autograd
/// (<see cref="SideTrainerCore.EvaluationLogits"/>); the loss and the choices are computed by the engine's own evaluators'
/// pieces (<see cref="ValidationEvaluator.WeightedLoss"/>, <see cref="MultipleChoiceEvaluator.Choose"/>), in the same
/// micro-batches and order, so the numbers equal <c>train-local</c>'s for the same step. Nothing here changes the side
/// network, the optimizer or the stages' W_A: with lean taps the caller collects the current W_A into the core first.
/// </summary>
/// <remarks>Deadlock rule: this runs on the side trainer's worker (not in a grain turn) and calls only the stages'
/// <c>ForwardOnly</c>, which interleaves and waits for nothing but the stage's forward lock.</remarks>
internal sealed class SideEvaluation(IGrainFactory grains, SideSpec spec, int attempt, EvaluationSets sets)
{
    readonly IReadOnlyList<IBackboneStageGrain> _stages = (spec.StageKeys
            ?? throw new ArgumentException($"job '{spec.JobId}': evaluation needs the pipeline's stage keys in the side spec"))
        .Select(key => grains.GetGrain<IBackboneStageGrain>(key)).ToList();

    readonly ITrainingJobGrain _job = grains.GetGrain<ITrainingJobGrain>(spec.JobId);
    /// <summary>Since the job last heard that this evaluation is alive (see <see cref="KeepAlive"/>).</summary>
    readonly System.Diagnostics.Stopwatch _sinceAlive = new();

    /// <summary>How often a running evaluation tells the job it is alive: well inside the watchdog's stall timeout (60 s by default).</summary>
    public static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The job's evaluation sets, loaded the way <c>train-local</c> loads them (<see cref="EvaluationSets.Load"/> over the
    /// training file, so <c>evaluation.val_fraction</c> holds out the same examples); null when the job evaluates nothing.
    /// </summary>
    public static EvaluationSets? Load(JobSpec job)
    {
        if (job.ValidationFile is null && job.MmluFile is null && job.Config.Evaluation.ValFraction == 0) return null;
        var tokenizer = ModelTokenizer.Load(job.ModelDirectory);
        var all = DataPlan.Load(job.Config, job.DataFile, tokenizer, job.ModelDirectory);
        var (_, sets) = EvaluationSets.Load(job.Config, all, tokenizer, job.ModelDirectory, job.DataFile, job.ValidationFile, job.MmluFile);
        return sets.Any ? sets : null;
    }

    /// <summary>Whether step <paramref name="step"/> is evaluated: every <c>evaluation.every_steps</c> and the last.</summary>
    public bool IsDue(int step)
    {
        int every = spec.Job.Config.Evaluation.EverySteps;
        return (every > 0 && step % every == 0) || step == spec.TotalSteps;
    }

    /// <summary>Evaluates the core's side network as it is now (call right after optimizer step <paramref name="step"/>).</summary>
    public async Task<JobEvaluation> RunAsync(SideTrainerCore core, int step)
    {
        _sinceAlive.Restart();
        _currentStep = step;
        ValidationResult? validation = sets.Validation is { } batches ? await ValidateAsync(core, batches) : null;
        MultipleChoiceResult? choices = sets.MultipleChoice is { } mc ? await ChooseAsync(core, mc) : null;
        return new JobEvaluation(step, validation?.Loss, validation?.Perplexity, choices?.Accuracy);
    }

    async Task<ValidationResult> ValidateAsync(SideTrainerCore core, IReadOnlyList<MicroBatch> batches)
    {
        double lossSum = 0;
        long tokens = 0;
        foreach (var batch in batches)
        {
            long kept = ValidationEvaluator.LabelledTokens(batch);
            if (kept == 0) continue;
            long[] shape = [batch.BatchSize, batch.SequenceLength];
            var mask = TensorPayloads.From(batch.AttentionMask, shape);                  // [B, T]
            var (taps, finalNormed) = await ForwardAsync(TensorPayloads.From(batch.InputIds, shape), mask);
            using var scope = NewDisposeScope();
            var logits = core.EvaluationLogits(taps, finalNormed, mask);                 // [B, T, V]
            lossSum += ValidationEvaluator.WeightedLoss(logits, tensor(batch.Labels, shape, device: logits.device), kept);
            tokens += kept;
        }
        return ValidationEvaluator.Result(lossSum, tokens);
    }

    async Task<MultipleChoiceResult> ChooseAsync(SideTrainerCore core, MultipleChoiceSet set)
    {
        int microBatchSize = spec.Job.MicroBatchSize;
        MultipleChoiceEvaluator.Check(set.Items, set.ChoiceTokenIds, microBatchSize);
        var predictions = new List<int>(set.Items.Count);
        foreach (var chunk in set.Items.Chunk(microBatchSize))
        {
            var batch = PromptBatch.Of(chunk, set.PadId);
            long[] shape = [batch.B, batch.T];
            var mask = TensorPayloads.From(batch.MaskValues, shape);                     // [B, T]
            var (taps, finalNormed) = await ForwardAsync(TensorPayloads.From(batch.IdValues, shape), mask);
            using var scope = NewDisposeScope();
            var logits = core.EvaluationLogits(taps, finalNormed, mask);                 // [B, T, V]
            predictions.AddRange(MultipleChoiceEvaluator.Choose(logits, batch, set.ChoiceTokenIds).ToList());
        }
        return MultipleChoiceEvaluator.Score(set.Items, predictions);
    }

    int _currentStep;

    /// <summary>No micro-batch is applied while the evaluation runs: every <see cref="KeepAliveInterval"/> the job hears it is
    /// alive (one-way), so its stall watchdog does not recover a healthy job in the middle of a long evaluation.</summary>
    void KeepAlive()
    {
        if (_sinceAlive.Elapsed < KeepAliveInterval) return;
        _job.Evaluating(attempt, _currentStep).Ignore();
        _sinceAlive.Restart();
    }

    /// <summary>One micro-batch through every stage in order: the N+1 full taps [B, T, H] and ĥ [B, T, E].</summary>
    async Task<(List<TensorPayload> Taps, TensorPayload FinalNormed)> ForwardAsync(TensorPayload ids, TensorPayload mask)
    {
        KeepAlive();
        var taps = new List<TensorPayload>();
        var input = ids;
        TensorPayload? finalNormed = null;
        foreach (var stage in _stages)
        {
            var output = await stage.ForwardOnly(new StageForwardRequest(spec.JobId, attempt, input, mask));
            taps.AddRange(output.Taps);
            input = output.Taps[^1];   // the next stage's input, as in training
            finalNormed = output.FinalNormed;
        }
        if (taps.Count != spec.TapCount || finalNormed is null)
            throw new InvalidOperationException($"job '{spec.JobId}': an evaluation pass through {_stages.Count} stage(s) returned {taps.Count} taps " +
                                                $"(expected {spec.TapCount}){(finalNormed is null ? " and no final hidden state" : "")}");
        return (taps, finalNormed);
    }
}
