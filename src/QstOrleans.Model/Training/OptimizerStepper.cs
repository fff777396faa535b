using System.Diagnostics;
using System.Globalization;
using QstOrleans.Model.SafeTensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>
/// The optimizer side of one training step, shared by the single-process trainer and the side-network
/// grain so they cannot drift apart: accumulate micro-batch gradients (each micro-batch's mean loss
/// divided by the accumulation count, like the HF Trainer, spec §1.6), then clip, set the scheduled lr,
/// AdamW-step and zero the gradients. <see cref="SaveState"/> / <see cref="RestoreState"/> checkpoint the AdamW
/// moments, per-parameter step counts and the stepper's own step (which drives the lr schedule), so a restored
/// stepper continues bitwise like an uninterrupted one.
/// </summary>
public sealed class OptimizerStepper : IDisposable
{
    readonly IReadOnlyList<Parameter> _parameters;
    readonly AdamW _adamw;
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
        _adamw = new AdamW(parameters, config.Beta1, config.Beta2, config.Epsilon, config.WeightDecay);
    }

    public OptimizerConfig Config { get; }
    /// <summary>The parameters AdamW updates, in its state order.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;
    /// <summary>Optimizer steps taken so far.</summary>
    public int Step { get; private set; }
    /// <summary>AdamW's state of each parameter, in <see cref="Parameters"/> order (lean taps copy the stages' W_A state in and out).</summary>
    public IReadOnlyList<AdamW.State> States => _adamw.States;
    /// <summary>Micro-batches per optimizer step.</summary>
    public int Accumulation => _accumulation;
    public bool StepDue => _accumulated == _accumulation;
    /// <summary>Wall seconds spent in backward (<see cref="Accumulate"/>) since this stepper was made (the trainer's phase split).</summary>
    public double BackwardSeconds { get; private set; }
    /// <summary>Wall seconds spent in <see cref="Apply"/> (clipping, AdamW, zeroing) since this stepper was made.</summary>
    public double ApplySeconds { get; private set; }

    /// <summary>Backpropagates one micro-batch's loss (scaled by 1/accumulation); returns its unscaled value.</summary>
    public float Accumulate(Tensor loss)
    {
        if (StepDue) throw new InvalidOperationException("the accumulation window is full: call Apply() first");
        // The divisor is a Scalar owned for the call: a temporary one could be freed by its finalizer mid-call (see AdamW).
        using Scalar accumulation = _accumulation;
        using var scaled = loss.div(accumulation);
        long started = Stopwatch.GetTimestamp();
        scaled.backward();
        BackwardSeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
        _accumulated++;
        // fp64 losses come from the float64 gradient checks.
        return loss.dtype == ScalarType.Float64 ? (float)loss.item<double>() : loss.item<float>();
    }

    /// <summary>Clips, steps AdamW with the scheduled lr and zeroes gradients.</summary>
    /// <param name="remoteSquaredNorms">Lean taps: Σ g² of parameters whose gradients live elsewhere (the stages' W_A
    /// slices), by index into <see cref="Parameters"/>; such parameters have no gradient here and are not stepped here
    /// (their holder applies the returned <see cref="StepUpdate.ClipCoefficient"/> and lr with its own AdamW).</param>
    /// <param name="nonFiniteLoss">A micro-batch of this window had a non-finite loss (with <see cref="OptimizerConfig.SkipNonFinite"/>:
    /// the step is skipped whatever the gradient norm).</param>
    /// <returns>The lr used, the global gradient norm before clipping and the clip coefficient applied; with
    /// <see cref="OptimizerConfig.SkipNonFinite"/> and a non-finite loss or norm, a skipped step (coefficient NaN, which tells
    /// lean-taps stages to skip it too; never a real coefficient: a non-finite norm otherwise stops the run first).</returns>
    public StepUpdate Apply(IReadOnlyDictionary<int, double>? remoteSquaredNorms = null, bool nonFiniteLoss = false)
    {
        long started = Stopwatch.GetTimestamp();
        try { return ApplyTimed(remoteSquaredNorms, nonFiniteLoss); }
        finally { ApplySeconds += Stopwatch.GetElapsedTime(started).TotalSeconds; }
    }

    StepUpdate ApplyTimed(IReadOnlyDictionary<int, double>? remoteSquaredNorms, bool nonFiniteLoss)
    {
        if (!StepDue) throw new InvalidOperationException($"only {_accumulated} of {_accumulation} micro-batches accumulated");
        double lr = _schedule.At(Step);
        using (NewDisposeScope())
        {
            // One scope for the step's temporaries (gradient handles, clipping, AdamW arithmetic): every read of
            // Parameter.grad is a new handle, and left to the GC they keep each step's gradients alive after zero_grad
            // (full fine-tuning of a 1.1 B model ran out of 80 GB within a few steps that way).
            var gradients = _parameters.Select(p => p.grad).ToList();
            var squares = GradientClipping.SquaredNorms(gradients);
            if (remoteSquaredNorms is not null)
                foreach (var (index, square) in remoteSquaredNorms) squares[index] = square;
            double norm = GradientClipping.Norm(squares);
            if (Config.SkipNonFinite && (nonFiniteLoss || !double.IsFinite(norm)))
            {
                // Skipped: no clipping and no AdamW step, so weights and moments stay as the last applied step left them; the
                // window's gradients are dropped. The step still counts (data and lr schedule advance as if applied).
                _adamw.ZeroGrad();
                _accumulated = 0;
                Step++;
                return new StepUpdate(lr, norm, float.NaN, Skipped: true);
            }
            float coefficient = GradientClipping.Coefficient(norm, Config.MaxGradNorm);
            GradientClipping.Scale(gradients, coefficient);
            _adamw.Step(lr);
            _adamw.ZeroGrad();
            _accumulated = 0;
            Step++;
            return new StepUpdate(lr, norm, coefficient);
        }
    }

    // ---- checkpointing (consistent cut: only between optimizer steps) ----

    const string StepKey = "optimizer_step", KindKey = "optimizer", CountKey = "parameters";

    /// <summary>
    /// Adds the AdamW state to <paramref name="writer"/>: for parameter i named n_i, <c>n_i.exp_avg</c> and
    /// <c>n_i.exp_avg_sq</c> (the parameter's shape and dtype) and <c>n_i.step</c> (I64 scalar); metadata
    /// <c>optimizer</c> = AdamW, <c>optimizer_step</c>, <c>parameters</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">Micro-batches are accumulated but not applied (not a step boundary).</exception>
    /// <exception cref="ArgumentException">Names do not match the parameters one to one.</exception>
    public void SaveState(SafeTensorsWriter writer, IReadOnlyList<string> parameterNames)
    {
        if (_accumulated != 0)
            throw new InvalidOperationException($"{_accumulated} micro-batches are accumulated but not applied: checkpoint only between optimizer steps");
        var states = AdamStates(parameterNames);
        for (int i = 0; i < states.Count; i++)
        {
            var s = states[i];
            writer.Add($"{parameterNames[i]}.exp_avg", s.ExpAvg);
            writer.Add($"{parameterNames[i]}.exp_avg_sq", s.ExpAvgSq);
            writer.Add($"{parameterNames[i]}.step", SafeTensorDType.I64, [], BitConverter.GetBytes(s.Step));
        }
        writer.Metadata[KindKey] = "AdamW";
        writer.Metadata[StepKey] = Step.ToString(CultureInfo.InvariantCulture);
        writer.Metadata[CountKey] = states.Count.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Restores what <see cref="SaveState"/> wrote: copies the moments into AdamW's state tensors, sets the
    /// per-parameter and stepper step counts and drops any partial accumulation. Everything is checked before
    /// anything changes.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">A tensor missing, extra, or of another shape/dtype; bad metadata (names file and tensor/key).</exception>
    public void RestoreState(SafeTensorsFile file, IReadOnlyList<string> parameterNames)
    {
        var states = AdamStates(parameterNames);
        string Meta(string key) => file.Metadata.TryGetValue(key, out var v) ? v
            : throw new SafeTensorsFormatException(file.FilePath, null, $"metadata '{key}' is missing (not an optimizer checkpoint?)");
        if (Meta(KindKey) != "AdamW")
            throw new SafeTensorsFormatException(file.FilePath, null, $"metadata '{KindKey}' is '{Meta(KindKey)}', expected AdamW");
        if (!int.TryParse(Meta(StepKey), NumberStyles.None, CultureInfo.InvariantCulture, out int step))
            throw new SafeTensorsFormatException(file.FilePath, null, $"metadata '{StepKey}' is '{Meta(StepKey)}', not a step count");
        var expected = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < states.Count; i++)
        {
            foreach (var (suffix, like) in new[] { ("exp_avg", states[i].ExpAvg), ("exp_avg_sq", states[i].ExpAvgSq) })
            {
                string name = $"{parameterNames[i]}.{suffix}";
                expected.Add(name);
                var info = file.Info(name);
                if (!info.Shape.SequenceEqual(like.shape) || SafeTensorDTypes.ToTorch(info.DType) != like.dtype)
                    throw new SafeTensorsFormatException(file.FilePath, name,
                        $"is {info.DType} [{string.Join(", ", info.Shape)}] but the parameter's state is {like.dtype} [{string.Join(", ", like.shape)}]");
            }
            string stepName = $"{parameterNames[i]}.step";
            expected.Add(stepName);
            var stepInfo = file.Info(stepName);
            if (stepInfo.DType != SafeTensorDType.I64 || stepInfo.Shape.Length != 0)
                throw new SafeTensorsFormatException(file.FilePath, stepName, "must be an I64 scalar");
        }
        var extra = file.Tensors.Keys.FirstOrDefault(n => !expected.Contains(n));
        if (extra is not null)
            throw new SafeTensorsFormatException(file.FilePath, extra, "is not state of this optimizer's parameters (another model or QST config?)");

        using var noGrad = no_grad();
        for (int i = 0; i < states.Count; i++)
        {
            using (var m = file.ReadTensor($"{parameterNames[i]}.exp_avg")) states[i].ExpAvg.copy_(m);
            using (var v = file.ReadTensor($"{parameterNames[i]}.exp_avg_sq")) states[i].ExpAvgSq.copy_(v);
            states[i].Step = BitConverter.ToInt64(file.ReadBytes($"{parameterNames[i]}.step"));
        }
        _adamw.ZeroGrad();
        _accumulated = 0;
        Step = step;
    }

    IReadOnlyList<AdamW.State> AdamStates(IReadOnlyList<string> parameterNames)
    {
        if (parameterNames.Count != _parameters.Count)
            throw new ArgumentException($"{parameterNames.Count} names for {_parameters.Count} optimizer parameters", nameof(parameterNames));
        if (parameterNames.Distinct(StringComparer.Ordinal).Count() != parameterNames.Count)
            throw new ArgumentException("parameter names must be distinct", nameof(parameterNames));
        return _adamw.States;   // the constructor's parameter order
    }

    public void Dispose() => _adamw.Dispose();
}

/// <summary>What one optimizer step applied: the lr, the global gradient norm before clipping, the clip coefficient.</summary>
public sealed record StepUpdate(double Lr, double GradNorm, float ClipCoefficient, bool Skipped = false);
