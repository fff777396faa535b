using QstOrleans.Model.Layers;
using QstOrleans.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Qst;

/// <summary>
/// The W_A slices a backbone stage owns with lean taps (adapters [first, end) of its layers), their AdamW and their
/// version (optimizer updates applied). The single-process trainer keeps the same W_A inside <see cref="QstSideNetwork"/>
/// and steps it with the same <see cref="AdamW"/> and <see cref="GradientClipping"/> code, so the two stay bitwise equal:
/// per parameter, AdamW's update depends only on that parameter's gradient, state, lr and the shared clip coefficient.
/// Not thread-safe: one worker owns it.
/// </summary>
public sealed class StageAdapters : IDisposable
{
    /// <summary>One slice as plain tensors (CPU or the stage's device): W_A [p, H], its two moments, its AdamW step count.</summary>
    public sealed record Slice(int Adapter, Tensor Weight, Tensor ExpAvg, Tensor ExpAvgSq, long Step);

    readonly int[] _adapters;                       // adapter indices, ascending
    readonly Dictionary<int, DenseLinear> _weights; // adapter → W_A [p, H] (trainable, fp32 master copy)
    readonly AdamW _adamw;
    readonly ScalarType _compute;

    /// <param name="slices">The slices with their state (copied; the caller keeps its tensors).</param>
    /// <param name="version">Optimizer updates already applied to them.</param>
    public StageAdapters(IReadOnlyList<Slice> slices, double beta1, double beta2, double epsilon, double weightDecay, ScalarType compute,
        int version, Device device)
    {
        _adapters = slices.Select(s => s.Adapter).Order().ToArray();
        if (_adapters.Distinct().Count() != _adapters.Length) throw new ArgumentException("an adapter appears twice among the slices");
        var ordered = slices.OrderBy(s => s.Adapter).ToList();
        _weights = ordered.ToDictionary(s => s.Adapter,
            s => new DenseLinear(s.Weight.to(device).detach().clone().DetachFromDisposeScope(), null, trainable: true, $"adapter_A.{s.Adapter}"));
        var parameters = _adapters.Select(a => _weights[a].Weight).ToList();
        _adamw = new AdamW(parameters, beta1, beta2, epsilon, weightDecay);
        using (no_grad())
            for (int i = 0; i < ordered.Count; i++)
            {
                var state = _adamw.States[i];
                state.ExpAvg.copy_(ordered[i].ExpAvg);
                state.ExpAvgSq.copy_(ordered[i].ExpAvgSq);
                state.Step = ordered[i].Step;
            }
        _compute = compute;
        Version = version;
    }

    /// <summary>Adapter indices held, ascending.</summary>
    public IReadOnlyList<int> Adapters => _adapters;
    /// <summary>Optimizer updates applied: micro-batches of optimizer step <c>Version + 1</c> read these weights.</summary>
    public int Version { get; private set; }

    /// <summary>U = W_A · x for tap <paramref name="tap"/>, with the graph W_A → U (to be closed by <see cref="AdapterProjection.Backward"/>).</summary>
    /// <param name="x">[B, T, H] the tap, any float dtype.</param>
    /// <returns>[B, T, p] in the compute dtype.</returns>
    public Tensor Project(int tap, Tensor x)
    {
        int adapter = AdapterProjection.AdapterOfTap(tap);
        if (!_weights.TryGetValue(adapter, out var weight))
            throw new ArgumentException($"tap {tap} reads adapter {adapter}, which this stage does not hold ({string.Join(", ", _adapters)})");
        using var grad = enable_grad();
        return AdapterProjection.Project(weight, x, _compute);
    }

    /// <summary>Σ g² (float64) of each W_A gradient, in adapter order (0 where none accumulated yet).</summary>
    public double[] SquaredGradNorms()
    {
        using var scope = NewDisposeScope();
        return GradientClipping.SquaredNorms(_adapters.Select(a => _weights[a].Weight.grad).ToList());
    }

    /// <summary>Optimizer step <see cref="Version"/> + 1: scale the gradients by the shared clip coefficient, AdamW, zero them.
    /// A NaN coefficient is a step the side trainer skipped (<c>optimizer.non_finite = skip</c>): the gradients are dropped only.</summary>
    public void Apply(double lr, float clipCoefficient)
    {
        using (NewDisposeScope())
        {
            if (!float.IsNaN(clipCoefficient))
            {
                GradientClipping.Scale(_adapters.Select(a => _weights[a].Weight.grad).ToList(), clipCoefficient);
                _adamw.Step(lr);
            }
            _adamw.ZeroGrad();
        }
        Version++;
    }

    /// <summary>Copies of the slices and their AdamW state on the CPU (made in the caller's dispose scope).</summary>
    public IReadOnlyList<Slice> Export()
    {
        using var noGrad = no_grad();
        return _adapters.Select((a, i) => new Slice(a, _weights[a].Weight.detach().cpu().clone(), _adamw.States[i].ExpAvg.cpu().clone(),
            _adamw.States[i].ExpAvgSq.cpu().clone(), _adamw.States[i].Step)).ToList();
    }

    public void Dispose()
    {
        _adamw.Dispose();
        foreach (var w in _weights.Values) w.Dispose();
    }
}
