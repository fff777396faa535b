using Orleans;

namespace QstOrleans.Configuration;

/// <summary>
/// Every training knob of a run, each declared once with its single default (in the section records) and an XML doc.
/// <c>qst train-local</c>, <c>qst train</c> (whose <c>JobSpec</c> carries this record over the wire), the engine's
/// config records and the benchmarks all build from it. Read from a JSON file (<see cref="TrainingConfigFile"/>) plus
/// command-line overrides, printed in full at the start of every run and stored with every checkpoint.
/// Keys are the snake_case names of the sections and their properties, e.g. <c>optimizer.learning_rate</c>.
/// <para>Treat it (and its sections) as immutable: build variants with <c>with</c>. The setters are public, not
/// <c>init</c>, only because Orleans' codec generator, running in QstOrleans.Contracts, cannot set init-only properties
/// of another assembly (ORLEANS0101).</para>
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrainingConfig
{
    /// <summary>The defaults: a fresh <c>new TrainingConfig()</c> each time (so no caller can change them for another).</summary>
    public static TrainingConfig Defaults => new();

    /// <summary>What trains: QST (default) or a baseline (train-local only).</summary>
    [Id(0)] public MethodSection Method { get; set; } = new();
    /// <summary>Dataset format, truncation, packing.</summary>
    [Id(1)] public DataSection Data { get; set; } = new();
    /// <summary>Epochs, steps, batch shape, seed.</summary>
    [Id(2)] public ScheduleSection Schedule { get; set; } = new();
    /// <summary>AdamW, learning-rate schedule, clipping.</summary>
    [Id(3)] public OptimizerSection Optimizer { get; set; } = new();
    /// <summary>The QST side network.</summary>
    [Id(4)] public QstSection Qst { get; set; } = new();
    /// <summary>Compute dtype and backbone weight format.</summary>
    [Id(5)] public PrecisionSection Precision { get; set; } = new();
    /// <summary>Backbone stages and micro-batches in flight (distributed runs).</summary>
    [Id(6)] public PipelineSection Pipeline { get; set; } = new();
    /// <summary>Checkpoint intervals (distributed runs).</summary>
    [Id(7)] public CheckpointSection Checkpoint { get; set; } = new();
    /// <summary>Validation during training (train-local and cluster jobs).</summary>
    [Id(8)] public EvaluationSection Evaluation { get; set; } = new();
    /// <summary>Threads and device of a single-process run.</summary>
    [Id(9)] public RuntimeSection Runtime { get; set; } = new();

    /// <summary>Checks every value; the message names the key (e.g. <c>optimizer.learning_rate must be &gt; 0</c>).</summary>
    /// <exception cref="ArgumentException">The first bad value.</exception>
    public TrainingConfig Validate()
    {
        TrainingConfigValidation.Check(this);
        return this;
    }

    /// <summary>The whole config as indented JSON with every key (what runs print and checkpoints store).</summary>
    public string ToJson() => TrainingConfigFile.Serialize(this);
}
