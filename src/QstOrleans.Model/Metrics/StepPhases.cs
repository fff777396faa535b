namespace QstOrleans.Model.Metrics;

/// <summary>
/// Where one optimizer step's wall time went in the single-process trainer, in seconds (all micro-batches of the step
/// together). QST: <see cref="BackboneSeconds"/> is the frozen no-grad backbone, <see cref="ForwardSeconds"/> the side network
/// with the LM head and loss (and the batch's tensors); the baselines have no separate backbone (0) and their whole forward
/// with loss is <see cref="ForwardSeconds"/>. <see cref="BackwardSeconds"/> is autograd's backward (QLoRA/LoRA with
/// gradient checkpointing: including the recomputed layer forwards), <see cref="OptimizerSeconds"/> clipping, AdamW and
/// zeroing the gradients. The benchmark uses it to say what separates QST from its FLOP ceiling. CPU wall clock: on CUDA the
/// kernels run asynchronously, so time lands in the phase that next waits for the device (the step total stays right).
/// </summary>
public sealed record StepPhases(double BackboneSeconds, double ForwardSeconds, double BackwardSeconds, double OptimizerSeconds)
{
    public double TotalSeconds => BackboneSeconds + ForwardSeconds + BackwardSeconds + OptimizerSeconds;

    /// <summary>Each phase's median over <paramref name="steps"/> (phase by phase, so the total need not be any one step's);
    /// null when there are none.</summary>
    public static StepPhases? Median(IEnumerable<StepPhases?> steps)
    {
        var all = steps.OfType<StepPhases>().ToList();
        if (all.Count == 0) return null;
        double Of(Func<StepPhases, double> phase)
        {
            var sorted = all.Select(phase).Order().ToList();
            int n = sorted.Count;
            return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        }
        return new StepPhases(Of(p => p.BackboneSeconds), Of(p => p.ForwardSeconds), Of(p => p.BackwardSeconds), Of(p => p.OptimizerSeconds));
    }

    /// <summary>The phases of one step from the trainer's running totals before and after it and the step's wall time.
    /// The forward is what the other three leave of the wall time.</summary>
    public static StepPhases Between(PhaseTotals before, PhaseTotals after, double wallSeconds)
    {
        double backbone = after.Backbone - before.Backbone, backward = after.Backward - before.Backward, optimizer = after.Optimizer - before.Optimizer;
        return new StepPhases(backbone, Math.Max(0, wallSeconds - backbone - backward - optimizer), backward, optimizer);
    }
}

/// <summary>Running totals (seconds since the trainer started) of the timed phases: the frozen backbone (QST), backward,
/// and the optimizer step.</summary>
public readonly record struct PhaseTotals(double Backbone, double Backward, double Optimizer);
