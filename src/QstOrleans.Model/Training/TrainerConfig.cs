using QstOrleans.Configuration;

namespace QstOrleans.Model.Training;

/// <summary>How long and how a single-process run trains. Built from a <see cref="TrainingConfig"/> (<see cref="From"/>);
/// an argument left out takes the config's default (<see cref="TrainingConfig.Defaults"/>), never one declared here.</summary>
public sealed record TrainerConfig
{
    /// <param name="Epochs">Passes over the data (ignored when <paramref name="MaxSteps"/> &gt; 0 is reached first).</param>
    /// <param name="MaxSteps">Stop after this many optimizer steps (0 = run all epochs).</param>
    /// <param name="MicroBatchSize">Sequences per forward pass.</param>
    /// <param name="GradientAccumulation">Micro-batches per optimizer step.</param>
    /// <param name="Threads">TorchSharp intra-op threads (fixed for reproducibility).</param>
    /// <param name="Seed">Seeds parameter init and data order.</param>
    public TrainerConfig(int? Epochs = null, int? MaxSteps = null, int? MicroBatchSize = null, int? GradientAccumulation = null,
        int? Threads = null, long? Seed = null)
    {
        var d = TrainingConfig.Defaults;
        this.Epochs = Epochs ?? d.Schedule.Epochs;
        this.MaxSteps = MaxSteps ?? d.Schedule.MaxSteps;
        this.MicroBatchSize = MicroBatchSize ?? d.Schedule.MicroBatchSize;
        this.GradientAccumulation = GradientAccumulation ?? d.Schedule.GradientAccumulation;
        this.Threads = Threads ?? d.Runtime.Threads;
        this.Seed = Seed ?? d.Schedule.Seed;
    }

    public int Epochs { get; init; }
    public int MaxSteps { get; init; }
    public int MicroBatchSize { get; init; }
    public int GradientAccumulation { get; init; }
    public int Threads { get; init; }
    public long Seed { get; init; }

    /// <summary>The engine's view of the <c>schedule</c> section and <c>runtime.threads</c>.</summary>
    public static TrainerConfig From(TrainingConfig c) => new(c.Schedule.Epochs, c.Schedule.MaxSteps, c.Schedule.MicroBatchSize,
        c.Schedule.GradientAccumulation, c.Runtime.Threads, c.Schedule.Seed);
}

/// <summary>One optimizer step's report; <paramref name="Evaluation"/> is set on steps the evaluation hook measured.</summary>
public sealed record StepReport(int Step, int Epoch, float Loss, double LearningRate, double GradNorm, double TokensPerSecond, long PeakMemoryBytes,
    Evaluation.EvaluationReport? Evaluation = null, bool Skipped = false, Metrics.StepPhases? Phases = null);
