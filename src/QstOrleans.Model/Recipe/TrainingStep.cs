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

    /// <summary>The optimizer this step drives (checkpoints save and restore it).</summary>
    public OptimizerStepper Stepper => stepper;
    /// <summary>Optimizer steps taken so far.</summary>
    public int Step => stepper.Step;

    /// <summary>Backpropagates one micro-batch's mean loss (a scalar with a graph); returns its value.</summary>
    public float Accumulate(Tensor loss)
    {
        float value = stepper.Accumulate(loss);
        _windowLoss += value;
        return value;
    }

    /// <summary>Applies the update when the accumulation window is full; null while it is not.</summary>
    /// <param name="remoteSquaredNorms">Lean taps: Σ g² of the parameters whose gradients the stages hold (see
    /// <see cref="OptimizerStepper.Apply"/>).</param>
    public StepResult? ApplyIfDue(IReadOnlyDictionary<int, double>? remoteSquaredNorms = null)
    {
        if (!stepper.StepDue) return null;
        var update = stepper.Apply(remoteSquaredNorms);
        float loss = _windowLoss / stepper.Accumulation;
        _windowLoss = 0;
        return new StepResult(stepper.Step, loss, update.Lr, update.GradNorm, update.ClipCoefficient);
    }

    /// <summary>Forgets a partial window (after a checkpoint restore, which lands on a step boundary).</summary>
    public void ResetWindow() => _windowLoss = 0;
}

/// <summary>One applied optimizer step: its number (1-based), mean micro-batch loss, lr used, gradient norm before clipping,
/// and the clip coefficient every gradient was multiplied by (1 = not clipped).</summary>
public sealed record StepResult(int Step, float Loss, double LearningRate, double GradNorm, float ClipCoefficient = 1f);
