using QstOrleans.Model.Layers;
using QstOrleans.Model.Loss;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Model.Recipe;

/// <summary>
/// The QST side micro-step, written once: side network over the backbone's taps and final normed hidden state, frozen
/// LM head, shifted cross-entropy, backward into the accumulation window; <see cref="ApplyIfDue"/> completes the step.
/// The single-process trainer (<see cref="QstModel"/> under <see cref="LocalTrainer"/>) and the side-trainer grain
/// both call it, so a distributed run equals the single-process one bitwise by construction: the only thing that
/// differs is where the taps come from (one backbone stage here, several stage grains there, bitwise the same).
/// </summary>
public sealed class SideMicroStep(QstSideNetwork side, FrozenLmHead head, TrainingStep step)
{
    /// <summary>The step bookkeeping (optimizer, window loss).</summary>
    public TrainingStep Step => step;

    /// <summary>Logits [B, T, V] fp32 of the side network over the taps (N+1 × [B, T, H]) and ĥ [B, T, E].</summary>
    public static Tensor Logits(QstSideNetwork side, FrozenLmHead head, IReadOnlyList<Tensor> taps, Tensor finalNormed, AttentionContext context)
    {
        using var f = side.Forward(taps, finalNormed, context);                  // [B, T, E]
        return head.Forward(f);                                                  // [B, T, V]
    }

    /// <summary>Forward, loss and backward of one micro-batch; returns its loss. Call inside a dispose scope.</summary>
    /// <param name="taps">The backbone's N+1 taps, [B, T, H] each.</param>
    /// <param name="finalNormed">The backbone's final-normed last hidden state, [B, T, E].</param>
    /// <param name="labels">[B, T] int64, −100 where no loss is taken.</param>
    public float Accumulate(IReadOnlyList<Tensor> taps, Tensor finalNormed, AttentionContext context, Tensor labels)
    {
        using var f = side.Forward(taps, finalNormed, context);                  // [B, T, E]
        return step.Accumulate(LmHeadLoss.Compute(head, f, labels));             // head + loss, no [B, T, V] logits
    }

    /// <summary>Applies the optimizer step when the accumulation window is full; null while it is not.</summary>
    public StepResult? ApplyIfDue() => step.ApplyIfDue();
}
