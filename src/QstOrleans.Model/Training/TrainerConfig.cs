namespace QstOrleans.Model.Training;

/// <summary>How long and how a single-process run trains.</summary>
/// <param name="Epochs">Passes over the data (ignored when <paramref name="MaxSteps"/> &gt; 0 is reached first).</param>
/// <param name="MaxSteps">Stop after this many optimizer steps (0 = run all epochs).</param>
/// <param name="MicroBatchSize">Sequences per forward pass.</param>
/// <param name="GradientAccumulation">Micro-batches per optimizer step.</param>
/// <param name="Threads">TorchSharp intra-op threads (fixed for reproducibility).</param>
/// <param name="Seed">Seeds parameter init and data order.</param>
public sealed record TrainerConfig(
    int Epochs = 1,
    int MaxSteps = 0,
    int MicroBatchSize = 4,
    int GradientAccumulation = 1,
    int Threads = 2,
    long Seed = 0);

/// <summary>One optimizer step's report; <paramref name="Evaluation"/> is set on steps the evaluation hook measured.</summary>
public sealed record StepReport(int Step, int Epoch, float Loss, double LearningRate, double GradNorm, double TokensPerSecond, long PeakMemoryBytes,
    Evaluation.EvaluationReport? Evaluation = null);
