using QstOrleans.Model.Backbone;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Loss;
using QstOrleans.Model.Recipe;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>
/// A plain causal LM for the baselines: embedding → layers → final norm → LM head, with gradients
/// flowing back through every layer (LoRA/QLoRA: into the adapters; full: into every weight).
/// </summary>
public sealed class BaselineModel : ITrainableModel
{
    readonly BackboneStage _backbone;
    readonly FrozenLmHead? _frozenHead;
    readonly DenseLinear? _trainableHead;
    readonly ScalarType _compute;

    public BaselineModel(TrainingMethod method, BackboneStage backbone, FrozenLmHead? frozenHead, DenseLinear? trainableHead, Precision precision)
    {
        Method = method;
        _backbone = backbone;
        _frozenHead = frozenHead;
        _trainableHead = trainableHead;
        _compute = precision.Compute;
        var parameters = backbone.parameters().Where(p => p.requires_grad).ToList();
        if (trainableHead is not null) parameters.AddRange(trainableHead.parameters().Where(p => p.requires_grad));
        TrainableParameters = parameters;
    }

    public TrainingMethod Method { get; }
    public Device Device => (_frozenHead?.Weight ?? _trainableHead!.Weight).device;
    public IReadOnlyList<Parameter> TrainableParameters { get; }
    public BackboneStage Backbone => _backbone;

    /// <summary>One micro-batch's forward, loss and backward into the accumulation window; returns its loss. The loss is
    /// the mean shifted cross-entropy through <see cref="LmHeadLoss"/> (no [B, T, V] logits; full fine-tuning's head
    /// weight gets its gradient there too).</summary>
    /// <param name="inputIds">[B, T] int64.</param>
    /// <param name="attentionMask">[B, T], 0 on padding.</param>
    /// <param name="labels">[B, T] int64, −100 where no loss is taken.</param>
    public float Accumulate(TrainingStep step, Tensor inputIds, Tensor attentionMask, Tensor labels)
    {
        // The context outlives the backward inside step.Accumulate: checkpointed layers recompute with it there.
        using var context = AttentionContext.Create(attentionMask);
        return step.Accumulate(Loss(inputIds, context, labels));
    }

    /// <summary>The loss of <see cref="Accumulate"/> without the backward; keep <paramref name="context"/> alive until
    /// backward has run (checkpointed layers recompute with it).</summary>
    public Tensor Loss(Tensor inputIds, AttentionContext context, Tensor labels)
    {
        using var output = _backbone.Forward(inputIds, context, collectTaps: false);
        var f = output.FinalNormed!;                                                   // [B, T, E] fp32
        return _frozenHead is not null
            ? LmHeadLoss.Compute(_frozenHead, f, labels)
            : LmHeadLoss.Compute(f, _trainableHead!.Weight, _compute, labels);
    }

    public Tensor Logits(Tensor inputIds, Tensor attentionMask)
    {
        using var context = AttentionContext.Create(attentionMask);
        using var output = _backbone.Forward(inputIds, context, collectTaps: false);
        if (_frozenHead is not null) return _frozenHead.Forward(output.FinalNormed!);
        using var input = output.FinalNormed!.to(_compute);
        using var logits = _trainableHead!.forward(input);
        return logits.to(ScalarType.Float32);
    }

    public void Dispose()
    {
        _backbone.Dispose();
        _frozenHead?.Dispose();
        _trainableHead?.Dispose();
    }
}
