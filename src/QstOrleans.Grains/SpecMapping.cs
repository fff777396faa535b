using QstOrleans.Contracts.Wire;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Training;

namespace QstOrleans.Grains;

/// <summary>
/// Maps the wire spec onto the engine's config records, in one place: the job validates a spec with
/// these before it loads anything, and the stage and side grains build from the same mapping.
/// </summary>
public static class SpecMapping
{
    public static BackboneOptions Backbone(string format, bool doubleQuant, string dtype) => new(
        format.ToLowerInvariant() switch
        {
            "nf4" => WeightFormat.Nf4,
            "bf16" or "bfloat16" => WeightFormat.BFloat16,
            "fp32" or "float32" => WeightFormat.Float32,
            _ => throw new ArgumentException($"backbone format '{format}' is not nf4, bf16 or fp32"),
        },
        doubleQuant, Precision.Parse(dtype));

    public static BackboneOptions Backbone(JobSpec job) => Backbone(job.BackboneFormat, job.DoubleQuant, job.Dtype);

    public static QstConfig Qst(QstSpec qst) =>
        new() { R = qst.R, AdapterBottleneck = qst.AdapterBottleneck, TrainMergeGate = qst.TrainMergeGate };

    public static OptimizerConfig Optimizer(JobSpec job) => new()
    {
        LearningRate = job.LearningRate, Schedule = LrSchedule.ParseKind(job.Schedule), WarmupSteps = job.WarmupSteps,
        MaxGradNorm = job.MaxGradNorm, WeightDecay = job.WeightDecay,
    };
}
