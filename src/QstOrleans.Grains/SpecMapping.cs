using QstOrleans.Configuration;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Training;

namespace QstOrleans.Grains;

/// <summary>
/// Maps the wire envelope (<see cref="JobSpec"/> and its <see cref="TrainingConfig"/>) onto the engine's config records,
/// in one place: the job validates a spec with these before it loads anything, and the stage and side grains build from
/// the same mapping. <c>qst train-local</c> maps the same config with the same engine factories (<c>From</c>).
/// </summary>
public static class SpecMapping
{
    /// <param name="attention"><c>precision.attention</c>: the stages' forward and the side network's kernel.</param>
    public static BackboneOptions Backbone(string format, bool doubleQuant, string dtype, string attention = "recompute") =>
        new(ModelBuildOptions.ParseBackboneFormat(format), doubleQuant, Precision.Parse(dtype, attention));

    /// <summary>What a stage grain loads and runs (its spec carries the job's dtype and attention kernel).</summary>
    public static BackboneOptions Backbone(StageSpec stage) => Backbone(stage.BackboneFormat, stage.DoubleQuant, stage.Dtype, stage.Attention);

    public static BackboneOptions Backbone(JobSpec job) => Backbone(job.Config.Precision);

    public static BackboneOptions Backbone(PrecisionSection p) => Backbone(p.BackboneFormat, p.DoubleQuant, p.Dtype, p.Attention);

    public static QstConfig Qst(JobSpec job) => QstConfig.From(job.Config.Qst);

    public static OptimizerConfig Optimizer(JobSpec job) => OptimizerConfig.From(job.Config.Optimizer);
}
