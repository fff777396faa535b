using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Model.Recipe;

/// <summary>
/// The bookkeeping of one optimizer step, shared by every trainer (single-process, side-trainer grain): backpropagate
/// each micro-batch's loss through <see cref="OptimizerStepper"/>, sum the unscaled losses of the accumulation window,
/// and when the window is full apply the update and report the step's loss (window sum / accumulation).
/// </summary>
public sealed class TrainingStep(OptimizerStepper stepper)
{
    float _windowLoss;
    bool _windowNonFinite;

    /// <summary>The optimizer this step drives (checkpoints save and restore it).</summary>
    public OptimizerStepper Stepper => stepper;
    /// <summary>Optimizer steps taken so far.</summary>
    public int Step => stepper.Step;

    /// <summary>Backpropagates one micro-batch's mean loss (a scalar with a graph); returns its value.</summary>
    /// <exception cref="NonFiniteTrainingException">The loss is NaN or infinite (its gradients are not applied), unless
    /// <c>optimizer.non_finite</c> is skip: then this window's step is skipped by <see cref="ApplyIfDue"/>.</exception>
    public float Accumulate(Tensor loss)
    {
        float value = stepper.Accumulate(loss);
        // Checked before any update uses this window's gradients: the weights stay as the last finite step left them.
        if (!float.IsFinite(value) && stepper.Config.SkipNonFinite) _windowNonFinite = true;
        else if (!float.IsFinite(value))
            throw new NonFiniteTrainingException($"micro-batch loss is {value} at step {stepper.Step + 1}: training stops (check the model weights, its config and the learning rate)");
        _windowLoss += value;
        return value;
    }

    /// <summary>Applies the update when the accumulation window is full; null while it is not.</summary>
    /// <param name="remoteSquaredNorms">Lean taps: Σ g² of the parameters whose gradients the stages hold (see
    /// <see cref="OptimizerStepper.Apply"/>).</param>
    public StepResult? ApplyIfDue(IReadOnlyDictionary<int, double>? remoteSquaredNorms = null)
    {
        if (!stepper.StepDue) return null;
        var update = stepper.Apply(remoteSquaredNorms, _windowNonFinite);
        _windowNonFinite = false;
        // A finite loss with a non-finite gradient norm (an overflow in backward) has just written non-finite weights: stop
        // before anyone reports or checkpoints this step (lean taps: before the stages apply it too). Skip: nothing was written.
        if (!update.Skipped && !double.IsFinite(update.GradNorm))
            throw new NonFiniteTrainingException($"gradient norm is {update.GradNorm} at step {stepper.Step}: training stops (check the model weights, its config and the learning rate)");
        float loss = _windowLoss / stepper.Accumulation;
        _windowLoss = 0;
        return new StepResult(stepper.Step, loss, update.Lr, update.GradNorm, update.ClipCoefficient, update.Skipped);
    }

    /// <summary>Forgets a partial window (after a checkpoint restore, which lands on a step boundary).</summary>
    public void ResetWindow() => (_windowLoss, _windowNonFinite) = (0, false);
}

/// <summary>One applied optimizer step: its number (1-based), mean micro-batch loss, lr used, gradient norm before clipping,
/// and the clip coefficient every gradient was multiplied by (1 = not clipped); <paramref name="Skipped"/>: a non-finite loss or
/// gradient norm under <c>optimizer.non_finite = skip</c>, so no update was applied (coefficient NaN).</summary>
public sealed record StepResult(int Step, float Loss, double LearningRate, double GradNorm, float ClipCoefficient = 1f, bool Skipped = false);
