using System.Diagnostics;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Recipe;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>
/// Single-process QST: the frozen backbone (one stage holding every layer) runs under
/// <c>no_grad</c>; its taps feed the side network, whose output goes through the frozen LM head.
/// The distributed trainer splits exactly this computation across stage and side grains.
/// Read <see cref="QstSideNetwork"/> first: its header has the whole QST forward in order, with tensor shapes.
/// </summary>
public sealed class QstModel(BackboneStage backbone, QstSideNetwork side, FrozenLmHead lmHead) : ITrainableModel
{
    public BackboneStage Backbone { get; } = backbone;
    public QstSideNetwork Side { get; } = side;
    public FrozenLmHead LmHead { get; } = lmHead;
    public TrainingMethod Method => TrainingMethod.Qst;
    public Device Device => LmHead.Weight.device;
    public IReadOnlyList<Parameter> TrainableParameters { get; } = side.parameters().Where(p => p.requires_grad).ToList();
    /// <summary>Train the split form the distributed run uses with lean taps (<see cref="SideMicroStep.AccumulateLean"/>).</summary>
    public bool LeanTaps { get; init; }

    public Tensor Logits(Tensor inputIds, Tensor attentionMask)
    {
        using var context = AttentionContext.Create(attentionMask);
        using var taps = RunBackbone(inputIds, context);
        // The inference form whatever the taps: what generation and an exported-then-reloaded side network compute
        // (lean taps train the same function, differing only in ĥ's rounding on the wire).
        return SideMicroStep.Logits(Side, LmHead, taps.Taps, taps.FinalNormed!, context);
    }

    /// <summary>One training micro-batch: the frozen backbone, then the shared side micro-step (the side-trainer grain
    /// runs the same step on taps from its stage grains). Returns the micro-batch's loss.</summary>
    /// <param name="inputIds">[B, T] int64.</param>
    /// <param name="attentionMask">[B, T], 0 on padding.</param>
    /// <param name="labels">[B, T] int64, −100 where no loss is taken.</param>
    public float Accumulate(SideMicroStep step, Tensor inputIds, Tensor attentionMask, Tensor labels)
    {
        using var context = AttentionContext.Create(attentionMask);
        using var taps = RunBackbone(inputIds, context);
        return LeanTaps
            ? step.AccumulateLean(taps.Taps, taps.FinalNormed!, context, labels)
            : step.Accumulate(taps.Taps, taps.FinalNormed!, context, labels);
    }

    /// <summary>The frozen forward: no autograd graph is recorded here.</summary>
    public StageOutput RunBackbone(Tensor inputIds, AttentionContext context)
    {
        using var noGrad = no_grad();
        long started = Stopwatch.GetTimestamp();
        try { return Backbone.Forward(inputIds, context); }
        finally { BackboneSeconds += Stopwatch.GetElapsedTime(started).TotalSeconds; }
    }

    /// <summary>Wall seconds spent in the frozen backbone's forward since this model was built (the trainer's phase split).</summary>
    public double BackboneSeconds { get; private set; }

    public void Dispose()
    {
        Backbone.Dispose();
        Side.Dispose();
        LmHead.Dispose();
    }
}
