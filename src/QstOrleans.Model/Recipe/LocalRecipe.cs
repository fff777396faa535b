using QstOrleans.Configuration;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Model.Devices;
using QstOrleans.Model.Training;

namespace QstOrleans.Model.Recipe;

/// <summary>
/// The single-process training recipe (torchtune style: setup, train, cleanup): <see cref="Setup"/> loads the
/// tokenizer, the data plan, the evaluation sets and the model; <see cref="Train"/> runs the step loop
/// (<see cref="LocalTrainer"/>, with the periodic evaluation hook) and yields one report per optimizer step;
/// <see cref="Dispose"/> frees the model. The distributed grains run the same pieces (<see cref="DataPlan"/>,
/// <see cref="SideMicroStep"/>, <see cref="TrainingStep"/>) one by one. No console output and no files written:
/// printing, metrics and the run folder belong to the caller (<c>qst train-local</c>).
/// </summary>
public sealed class LocalRecipe : IDisposable
{
    LocalRecipe(TrainingConfig config, string modelDirectory, string dataFile, ModelConfig modelConfig, ModelTokenizer tokenizer,
        DataPlan plan, EvaluationSets evaluation, ModelBuildOptions build, ITrainableModel model)
    {
        (Config, ModelDirectory, DataFile, ModelConfig, Tokenizer) = (config, modelDirectory, dataFile, modelConfig, tokenizer);
        (Plan, Evaluation, Build, Model) = (plan, evaluation, build, model);
    }

    /// <summary>The run's whole configuration (validated).</summary>
    public TrainingConfig Config { get; }
    /// <summary>The HF model directory the backbone was loaded from.</summary>
    public string ModelDirectory { get; }
    /// <summary>The training file.</summary>
    public string DataFile { get; }
    /// <summary>The base model's architecture.</summary>
    public ModelConfig ModelConfig { get; }
    public ModelTokenizer Tokenizer { get; }
    /// <summary>The training micro-batches (validation examples removed) and the step counts.</summary>
    public DataPlan Plan { get; }
    /// <summary>The validation and MMLU-style sets (either may be absent).</summary>
    public EvaluationSets Evaluation { get; }
    /// <summary>What was built (method, precision, seed, backbone format, device).</summary>
    public ModelBuildOptions Build { get; }
    /// <summary>The model being trained (owned by the recipe).</summary>
    public ITrainableModel Model { get; }

    /// <summary>Scalars the model trains.</summary>
    public long TrainableParameterCount => Model.TrainableParameters.Sum(p => p.numel());

    /// <summary>How the side network was trained, as checkpoints and exports record it.</summary>
    public SideNetworkTraining SideNetworkTraining => new(Build.Compute, Config.Schedule.Seed, Build.BackboneFormat, Build.DoubleQuant);

    /// <summary>
    /// Validates <paramref name="config"/>, then loads, in this order: the model config and tokenizer, the training
    /// file (<see cref="DataPlan.Load"/>), the evaluation sets (<see cref="EvaluationSets.Load"/>), the data plan and,
    /// last, the model (<see cref="ModelBuilder"/>), so bad data or options fail before the weights are read.
    /// </summary>
    /// <param name="modelDirectory">HF model directory (config.json, tokenizer, safetensors).</param>
    /// <param name="dataFile">The training file (any format <c>data.format</c> reads).</param>
    /// <param name="validationFile">Optional separate validation file (excludes <c>evaluation.val_fraction</c>).</param>
    /// <param name="mmluFile">Optional MMLU-style JSONL for multiple-choice accuracy.</param>
    /// <exception cref="ArgumentException">A bad config value, evaluation option or device, or data too small for one step.</exception>
    public static LocalRecipe Setup(TrainingConfig config, string modelDirectory, string dataFile,
        string? validationFile = null, string? mmluFile = null)
    {
        config.Validate();
        var modelConfig = ModelConfig.Load(modelDirectory);
        var tokenizer = ModelTokenizer.Load(modelDirectory);
        var all = DataPlan.Load(config, dataFile, tokenizer, modelDirectory);
        DataPlan.CheckVocabulary(all, modelConfig.VocabSize, dataFile);
        var (batches, evaluation) = EvaluationSets.Load(config, all, tokenizer, modelDirectory, dataFile, validationFile, mmluFile);
        var plan = DataPlan.For(batches, config.Schedule, dataFile);
        // A single-process run always trains on the NF4 backbone: precision.backbone_format is a distributed-run key.
        var build = ModelBuildOptions.From(config, ComputeDevice.Parse(config.Runtime.Device)) with { BackboneFormat = WeightFormat.Nf4 };
        var model = ModelBuilder.Build(modelDirectory, modelConfig, build);
        return new LocalRecipe(config, modelDirectory, dataFile, modelConfig, tokenizer, plan, evaluation, build, model);
    }

    /// <summary>
    /// Runs the step loop over <see cref="Plan"/> (all epochs, capped at <see cref="DataPlan.TotalSteps"/>) and yields one
    /// report per optimizer step; evaluated steps (every <c>evaluation.every_steps</c> and the last) carry
    /// <see cref="StepReport.Evaluation"/>. Lazy: nothing trains until the reports are enumerated.
    /// </summary>
    public IEnumerable<StepReport> Train()
    {
        int totalSteps = Plan.TotalSteps;
        var trainerConfig = TrainerConfig.From(Config);
        var evaluator = Evaluation.Evaluator(Model, Config.Evaluation.EverySteps, totalSteps, trainerConfig.MicroBatchSize);
        var trainer = new LocalTrainer(Model, OptimizerConfig.From(Config.Optimizer), trainerConfig with { MaxSteps = totalSteps });
        return trainer.Train(Plan.Epoch, totalSteps, evaluator is null ? null : evaluator.AfterStep);
    }

    /// <summary>Frees the model's native memory.</summary>
    public void Dispose() => Model.Dispose();
}
