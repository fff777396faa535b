using System.Security.Cryptography;
using System.Text;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Grains.Placement;
using QstOrleans.Model.Config;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;

namespace QstOrleans.Grains.Jobs;

/// <summary>
/// A validated job: its data, step counts and stage placement. Building it checks every input the job
/// depends on (model config, data file, QST config vs model, stages vs slots), so a bad request fails
/// here with a message naming the problem, before any grain is touched.
/// </summary>
public sealed record JobPlan(
    JobSpec Spec, ModelConfig Model, InstructionBatches Batches, int StepsPerEpoch, int TotalSteps,
    IReadOnlyList<PlannedStage> Stages, IReadOnlyList<string> StageKeys)
{
    /// <summary>Micro-batches per epoch that belong to whole accumulation windows.</summary>
    public int MicroBatchesPerEpoch => StepsPerEpoch * Spec.GradientAccumulation;
    public int TotalMicroBatches => TotalSteps * Spec.GradientAccumulation;
    /// <summary>The job's lr(step), as its side trainer's optimizer computes it (for the <c>qst_learning_rate</c> gauge).</summary>
    public LrSchedule LrSchedule { get; } = SpecMapping.Optimizer(Spec) is var o ? new(o.Schedule, o.LearningRate, o.WarmupSteps, TotalSteps) : null!;

    /// <param name="fitToSlots">On recovery: use fewer stages than the spec asks when silos died and fewer slots are
    /// left (taps are bitwise the same for any split, so the result does not change).</param>
    public static async Task<JobPlan> Build(JobSpec spec, IClusterSlotsGrain slots, bool fitToSlots = false)
    {
        if (!Directory.Exists(spec.ModelDirectory)) throw new ArgumentException($"model directory '{spec.ModelDirectory}' does not exist on the silo");
        var model = ModelConfig.Load(spec.ModelDirectory);
        // Every option the stages and the side trainer will map, checked before anything is loaded. The wire names of
        // the checkpoint intervals stay in their messages (clients match them); the config checks every other key.
        if (spec.CheckpointEverySteps < 0) throw new ArgumentException($"CheckpointEverySteps must be >= 0 (0 = off), got {spec.CheckpointEverySteps}");
        if (spec.CheckpointEveryMinutes < 0 || double.IsNaN(spec.CheckpointEveryMinutes))
            throw new ArgumentException($"CheckpointEveryMinutes must be >= 0 (0 = off), got {spec.CheckpointEveryMinutes}");
        spec.Config.Validate();
        if (spec.Config.Method.Name.ToLowerInvariant() != "qst")
            throw new ArgumentException($"method.name '{spec.Config.Method.Name}': a cluster job trains QST only (baselines run in `qst train-local`)");
        SpecMapping.Qst(spec).Validate(model);
        SpecMapping.Optimizer(spec);
        SpecMapping.Backbone(spec);
        var tokenizer = ModelTokenizer.Load(spec.ModelDirectory);
        // The recipe's data plan, the same code as `qst train-local` (same model directory for the chat template), so the
        // micro-batches and step counts are identical.
        var loaded = DataPlan.Load(spec.Config, spec.DataFile, tokenizer, spec.ModelDirectory);
        DataPlan.CheckVocabulary(loaded, model.VocabSize, spec.DataFile);
        // The evaluation sets as train-local splits them: evaluation.val_fraction holds examples out of training; a bad
        // --val-data/--mmlu file or --eval-every without a set is refused here (the side trainer evaluates, JobEvaluation).
        var (train, _) = EvaluationSets.Load(spec.Config, loaded, tokenizer, spec.ModelDirectory, spec.DataFile, spec.ValidationFile, spec.MmluFile);
        var data = DataPlan.For(train, spec.Config.Schedule, spec.DataFile);
        int stepsPerEpoch = data.StepsPerEpoch, totalSteps = data.TotalSteps;
        var batches = data.Batches;
        var live = await slots.List();
        int stageCount = fitToSlots ? Math.Max(1, Math.Min(spec.Stages, live.Count)) : spec.Stages;
        var stages = StagePlanner.Plan(model.NumLayers, stageCount, live);
        string modelKey = ModelKey(spec);
        var keys = stages.Select(s => new StageKey(modelKey, s.First, s.End, s.Slot.Id).ToString()).ToList();
        return new JobPlan(spec, model, batches, stepsPerEpoch, totalSteps, stages, keys);
    }

    /// <summary>Identifies the frozen weights a stage holds and the forward it runs: the same key means the same stage can
    /// be shared. Recompute and eager attention run the same forward without a graph (one key, as before the kernel was a
    /// key); fused rounds differently, so a fused job gets stages of its own and its hidden states never depend on which
    /// other jobs share the cluster.</summary>
    internal static string ModelKey(JobSpec spec)
    {
        string identity = $"{Path.GetFullPath(spec.ModelDirectory)}|{spec.BackboneFormat}|{spec.DoubleQuant}|{spec.Dtype}";
        if (string.Equals(spec.Config.Precision.Attention, "fused", StringComparison.OrdinalIgnoreCase)) identity += "|fused";
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..12].ToLowerInvariant();
    }
}
