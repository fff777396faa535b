using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Training;
using TorchSharp;
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
        var logits = Logits(side, head, taps, finalNormed, context);             // [B, T, V]
        return step.Accumulate(CausalLmLoss.Compute(logits, labels));
    }

    /// <summary>
    /// Lean taps in one process, the same split the stage and side grains run (<see cref="AdapterProjection"/>): U_t = W_A·tap_t
    /// with W_A's graph kept, the side part over U (<see cref="AccumulateProjected"/>), then W_A's gradient from G = ∂L/∂U.
    /// ĥ is rounded to the compute dtype, as it crosses the wire. Returns the micro-batch's loss.
    /// </summary>
    public float AccumulateLean(IReadOnlyList<Tensor> taps, Tensor finalNormed, AttentionContext context, Tensor labels)
    {
        var projections = new List<Tensor>(taps.Count);
        using (enable_grad())
            for (int t = 0; t < taps.Count; t++)
                projections.Add(AdapterProjection.Project(side.Adapter(AdapterProjection.AdapterOfTap(t)).Projection, taps[t], side.ComputeDType));   // [B, T, p]
        var (loss, gradients) = AccumulateProjected(projections.Select(u => u.detach()).ToList(), WireFinalNormed(side, finalNormed), context, labels);
        for (int t = 0; t < taps.Count; t++) AdapterProjection.Backward(projections[t], gradients[t]);   // tap order: A_0 gets tap 0's part first
        return loss;
    }

    /// <summary>
    /// The side trainer's part of a lean micro-batch: forward over the projections U_t (made leaves here), loss, backward
    /// into the accumulation window. Returns the loss and G_t = ∂L/∂U_t [B, T, p] for the stages that hold W_A.
    /// </summary>
    /// <param name="projections">N+1 × U_t [B, T, p] in the compute dtype, without autograd history.</param>
    /// <param name="finalNormed">ĥ [B, T, E] as it came over the wire (<see cref="WireFinalNormed"/>).</param>
    public (float Loss, IReadOnlyList<Tensor> Gradients) AccumulateProjected(IReadOnlyList<Tensor> projections, Tensor finalNormed,
        AttentionContext context, Tensor labels)
    {
        foreach (var u in projections) u.requires_grad_(true);
        Tensor logits;                                                                   // [B, T, V]
        using (var f = side.ForwardProjected(projections, finalNormed, context)) logits = head.Forward(f);
        float loss = step.Accumulate(CausalLmLoss.Compute(logits, labels));
        return (loss, projections.Select(u => u.grad ?? throw new InvalidOperationException("a projected tap received no gradient")).ToList());
    }

    /// <summary>Logits [B, T, V] of the lean form (no gradients): what <see cref="AccumulateLean"/> trains on.</summary>
    public static Tensor LeanLogits(QstSideNetwork side, FrozenLmHead head, IReadOnlyList<Tensor> taps, Tensor finalNormed, AttentionContext context)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var projections = taps.Select((x, t) => AdapterProjection.Project(side.Adapter(AdapterProjection.AdapterOfTap(t)).Projection, x, side.ComputeDType)).ToList();
        using var f = side.ForwardProjected(projections, WireFinalNormed(side, finalNormed), context);
        return head.Forward(f).MoveToOuterDisposeScope();
    }

    /// <summary>ĥ as lean taps carry it: in the side network's compute dtype (bf16 halves the one full-width tensor that crosses).</summary>
    public static Tensor WireFinalNormed(QstSideNetwork side, Tensor finalNormed) => finalNormed.to(side.ComputeDType);

    /// <summary>Applies the optimizer step when the accumulation window is full; null while it is not.</summary>
    /// <param name="remoteSquaredNorms">Lean taps in the grains: Σ g² of the stages' W_A gradients, by optimizer parameter index.</param>
    public StepResult? ApplyIfDue(IReadOnlyDictionary<int, double>? remoteSquaredNorms = null) => step.ApplyIfDue(remoteSquaredNorms);
}
