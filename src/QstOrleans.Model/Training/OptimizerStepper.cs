using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>
/// The optimizer side of one training step, shared by the single-process trainer and the side-network
/// grain so they cannot drift apart: accumulate micro-batch gradients (each micro-batch's mean loss
/// divided by the accumulation count, like the HF Trainer, spec §1.6), then clip, set the scheduled lr,
/// AdamW-step and zero the gradients.
/// </summary>
public sealed class OptimizerStepper : IDisposable
{
    readonly IReadOnlyList<Parameter> _parameters;
    readonly optim.Optimizer _adamw;
    readonly LrSchedule _schedule;
    readonly int _accumulation;
    int _accumulated;

    public OptimizerStepper(IReadOnlyList<Parameter> parameters, OptimizerConfig config, int accumulation, int totalSteps)
    {
        if (accumulation < 1) throw new ArgumentOutOfRangeException(nameof(accumulation), "gradient accumulation must be >= 1");
        _parameters = parameters;
        Config = config;
        _accumulation = accumulation;
        _schedule = new LrSchedule(config.Schedule, config.LearningRate, config.WarmupSteps, totalSteps);
        _adamw = optim.AdamW(parameters, config.LearningRate, config.Beta1, config.Beta2, config.Epsilon, config.WeightDecay);
    }

    public OptimizerConfig Config { get; }
    /// <summary>Optimizer steps taken so far.</summary>
    public int Step { get; private set; }
    public bool StepDue => _accumulated == _accumulation;

    /// <summary>Backpropagates one micro-batch's loss (scaled by 1/accumulation); returns its unscaled value.</summary>
    public float Accumulate(Tensor loss)
    {
        if (StepDue) throw new InvalidOperationException("the accumulation window is full: call Apply() first");
        using var scaled = loss / _accumulation;
        scaled.backward();
        _accumulated++;
        return loss.item<float>();
    }

    /// <summary>Clips, steps AdamW with the scheduled lr and zeroes gradients.</summary>
    /// <returns>The lr used and the global gradient norm before clipping.</returns>
    public (double Lr, double GradNorm) Apply()
    {
        if (!StepDue) throw new InvalidOperationException($"only {_accumulated} of {_accumulation} micro-batches accumulated");
        double gradNorm = GlobalGradNorm();
        double lr = _schedule.At(Step);
        // One scope for the step's temporaries (clipping, AdamW arithmetic): left to the GC finalizer they
        // pile up in native memory. The optimizer keeps its own state outside the scope.
        using (NewDisposeScope())
        {
            if (Config.MaxGradNorm > 0) nn.utils.clip_grad_norm_(_parameters, Config.MaxGradNorm);
            foreach (var group in _adamw.ParamGroups) group.LearningRate = lr;
            _adamw.step();
            _adamw.zero_grad();
        }
        _accumulated = 0;
        Step++;
        return (lr, gradNorm);
    }

    double GlobalGradNorm()
    {
        double sum = 0;
        foreach (var p in _parameters)
        {
            if (p.grad is null) continue;
            using var g = p.grad.to(ScalarType.Float64);
            using var sq = g.pow(2).sum();
            sum += sq.item<double>();
        }
        return Math.Sqrt(sum);
    }

    public void Dispose() => _adamw.Dispose();
}
