using QstOrleans.Cli.Train;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// The single-process trainer (<c>train-local</c>) with the settings the end-to-end tests pass to <c>qst train</c>
/// (micro-batch 4, lr 1e-2, CLI defaults otherwise): the uninterrupted reference run a cluster job must equal bitwise.
/// </summary>
internal static class SoloRun
{
    public static (List<float> Losses, Dictionary<string, byte[]> Weights) Train(string model, string data, long seed, int steps, string output)
    {
        var reports = new List<StepReport>();
        _ = TrainLocalCommand.Run(new TrainLocalSettings
        {
            Model = model, Data = data,
            Optimizer = new OptimizerConfig { LearningRate = 1e-2 },
            Trainer = new TrainerConfig(Epochs: 1, MaxSteps: steps, MicroBatchSize: 4, GradientAccumulation: 1, Threads: 2, Seed: seed),
            Output = output,
        }, reports).ToList();
        using var file = SafeTensorsFile.Open(Path.Combine(output, "trainable.safetensors"));
        return (reports.Select(r => r.Loss).ToList(), file.Tensors.Keys.ToDictionary(n => n, file.ReadBytes));
    }

    /// <summary>The same train-local settings as <c>qst train</c> arguments (the caller adds the connection and job id).</summary>
    public static string[] TrainArgs(string model, string data, long seed, int steps, int stages) =>
    [
        "train", "--model", model, "--data", data, "--stages", stages.ToString(), "--max-steps", steps.ToString(),
        "--micro-batch-size", "4", "--lr", "1e-2", "--seed", seed.ToString(), "--window", "3", "--plain",
    ];
}
