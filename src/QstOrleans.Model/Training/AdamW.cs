using QstOrleans.Model.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter; PyTorch / HF semantics: decoupled weight decay, bias-corrected moments, no AMSGrad),
/// written here instead of using TorchSharp's <c>optim.AdamW</c> for one reason: TorchSharp 0.107 turns every
/// <c>double</c> operand (<c>mul_(β)</c>, <c>add_(g, alpha)</c>, <c>addcmul_(…, value)</c>, <c>addcdiv_(…, value)</c>,
/// <c>t / x</c>) into a temporary <see cref="Scalar"/> whose finalizer frees the native scalar, and passes only its handle
/// to libtorch. A garbage collection during that native call frees the scalar under libtorch's feet
/// ("Expected false to be true … toFloat (c10/core/Scalar.h:140)", or a silently wrong value). Here every scalar operand
/// is a <see cref="Scalar"/> this code owns and disposes after the call.
/// </summary>
/// <remarks>
/// The update, per parameter p with gradient g, at step t (the parameter's own count, as PyTorch keeps it):
/// <code>
/// p  ← p · (1 − lr·λ)                        decoupled weight decay
/// m  ← β₁·m + (1 − β₁)·g
/// v  ← β₂·v + (1 − β₂)·g²
/// p  ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// </code>
/// The operations and their order are TorchSharp's <c>AdamW.step</c>'s, so on the same inputs the result is bitwise the
/// same (tested); the only change is who owns the scalars. Parameters without a gradient are skipped (their count does
/// not advance), as in PyTorch.
/// </remarks>
public sealed class AdamW : IDisposable
{
    /// <summary>One parameter's optimizer state: its step count and the two moments (the parameter's shape and dtype).</summary>
    public sealed class State(Tensor expAvg, Tensor expAvgSq) : IDisposable
    {
        public long Step { get; set; }
        /// <summary>First moment m (same shape as the parameter).</summary>
        public Tensor ExpAvg { get; } = expAvg;
        /// <summary>Second moment v (same shape as the parameter).</summary>
        public Tensor ExpAvgSq { get; } = expAvgSq;

        public void Dispose()
        {
            ExpAvg.Dispose();
            ExpAvgSq.Dispose();
        }
    }

    readonly IReadOnlyList<Parameter> _parameters;
    readonly State[] _states;
    readonly double _beta1, _beta2, _epsilon, _weightDecay;

    /// <exception cref="ArgumentOutOfRangeException">β outside [0, 1), ε or weight decay negative (names the value).</exception>
    public AdamW(IReadOnlyList<Parameter> parameters, double beta1, double beta2, double epsilon, double weightDecay)
    {
        if (beta1 is < 0 or >= 1 || double.IsNaN(beta1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "AdamW β1 must be in [0, 1)");
        if (beta2 is < 0 or >= 1 || double.IsNaN(beta2)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "AdamW β2 must be in [0, 1)");
        if (!(epsilon >= 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "AdamW ε must be >= 0");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "AdamW weight decay must be >= 0");
        _parameters = parameters;
        (_beta1, _beta2, _epsilon, _weightDecay) = (beta1, beta2, epsilon, weightDecay);
        // The moments outlive every step's dispose scope.
        _states = parameters.Select(p => new State(zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope())).ToArray();
    }

    /// <summary>The state of each parameter, in the constructor's order.</summary>
    public IReadOnlyList<State> States => _states;

    /// <summary>One update of every parameter that has a gradient, with learning rate <paramref name="lr"/>.</summary>
    public void Step(double lr)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        // Step-wide scalars, owned here for the whole loop (never a temporary handed to native code).
        using var decay = (1 - lr * _weightDecay).ToScalar();
        using var beta1 = _beta1.ToScalar();
        using var oneMinusBeta1 = (1 - _beta1).ToScalar();
        using var beta2 = _beta2.ToScalar();
        using var oneMinusBeta2 = (1 - _beta2).ToScalar();
        using var epsilon = _epsilon.ToScalar();
        for (int i = 0; i < _parameters.Count; i++)
        {
            var parameter = _parameters[i];
            var grad = parameter.grad;
            if (grad is null) continue;
            var state = _states[i];
            state.Step += 1;
            parameter.mul_(decay);
            double biasCorrection1 = 1 - Math.Pow(_beta1, state.Step);
            double biasCorrection2 = 1 - Math.Pow(_beta2, state.Step);
            state.ExpAvg.mul_(beta1).add_(grad, alpha: oneMinusBeta1);
            state.ExpAvgSq.mul_(beta2).addcmul_(grad, grad, value: oneMinusBeta2);
            using var sqrtBiasCorrection2 = Math.Sqrt(biasCorrection2).ToScalar();
            using var negativeStepSize = (-(lr / biasCorrection1)).ToScalar();
            var denominator = state.ExpAvgSq.sqrt().div_(sqrtBiasCorrection2).add_(epsilon, Scalars.One);
            parameter.addcdiv_(state.ExpAvg, denominator, value: negativeStepSize);
        }
    }

    /// <summary>Zeroes every gradient in place (what TorchSharp's <c>zero_grad</c> does), so the next backward accumulates from 0.</summary>
    public void ZeroGrad()
    {
        // Each read of Parameter.grad makes a new handle; the scope frees them (left to the GC they keep gradients alive).
        using var scope = NewDisposeScope();
        foreach (var parameter in _parameters)
        {
            var grad = parameter.grad;
            grad?.zero_();
        }
    }

    public void Dispose()
    {
        foreach (var state in _states) state.Dispose();
    }
}
