using QstOrleans.Grains.Placement;
using QstOrleans.Grains.Transport;
using QstOrleans.Model.Qst;
using static TorchSharp.torch;

namespace QstOrleans.Grains.Side;

/// <summary>
/// The side trainer's end of lean taps: which stage holds which W_A slices, and the four exchanges with them. Stage
/// [first, end) owns adapters first..end−1, i.e. taps first+1..end (and tap 0, the embedding output, on the first stage):
/// <list type="number">
/// <item><see cref="InitializeAsync"/>: after a (re)start, hand every stage its slices and their AdamW state.</item>
/// <item><see cref="SendGradients"/>: per micro-batch, G_t = ∂L/∂U_t to the stage of tap t; at a window end the replies are
/// the stages' Σ g² of their W_A gradients, which the global clip needs.</item>
/// <item><see cref="ApplyStepAsync"/>: per optimizer step, the lr and clip coefficient; the stages step their slices.</item>
/// <item><see cref="CollectAsync"/>: for checkpoints and weights, copy the stages' slices back into the side network.</item>
/// </list>
/// Every exchange stops waiting when <paramref name="stop"/> fires (the silo stops, <see cref="Hosting.SiloStopping"/>): a stage
/// on the same silo deactivates only after the side trainer, so waiting on it would hold the silo until Orleans' timeout.
/// </summary>
internal sealed class StageAdapterLink(IGrainFactory grains, SideSpec spec, int attempt, CancellationToken stop = default)
{
    readonly IReadOnlyList<(IBackboneStageGrain Grain, int First, int End)> _stages = (spec.StageKeys
            ?? throw new ArgumentException($"job '{spec.JobId}': lean taps need the pipeline's stage keys in the side spec"))
        .Select(key => StageKey.Parse(key))
        .Select((key, i) => (grains.GetGrain<IBackboneStageGrain>(spec.StageKeys[i]), key.First, key.End))
        .ToList();

    /// <summary>Gives every stage its W_A slices at the core's current step (fresh start or restored checkpoint).</summary>
    public Task InitializeAsync(SideTrainerCore core)
    {
        var job = spec.Job;
        return Task.WhenAll(_stages.Select(stage =>
        {
            using var scope = NewDisposeScope();
            var slices = core.AdapterSlices(stage.First, stage.End).Select(ToWire).ToList();
            return stage.Grain.InitializeAdapters(new StageAdapterState(spec.JobId, attempt, core.Steps, job.GradientAccumulation, job.Dtype,
                job.Config.Optimizer.Beta1, job.Config.Optimizer.Beta2, job.Config.Optimizer.Epsilon, job.Config.Optimizer.WeightDecay, slices));
        })).WaitAsync(stop);
    }

    /// <summary>Sends G_t (index = tap) to the stages that own the taps. The task's result, at a window end, is Σ g² of every
    /// adapter's W_A gradient (index = adapter); before a window end it completes once the stages have taken the gradients.</summary>
    public async Task<double[]?> SendGradients(long sequence, IReadOnlyList<TensorPayload> gradients, bool windowEnd)
    {
        var replies = await Task.WhenAll(_stages.Select(stage =>
        {
            var taps = Enumerable.Range(stage.First == 0 ? 0 : stage.First + 1, stage.First == 0 ? stage.End + 1 : stage.End - stage.First).ToList();
            return stage.Grain.SubmitTapGradients(new TapGradients(spec.JobId, attempt, sequence, taps, taps.Select(t => gradients[t]).ToList(), windowEnd));
        })).WaitAsync(stop);
        if (!windowEnd) return null;
        var norms = new double[_stages[^1].End];
        for (int s = 0; s < _stages.Count; s++)
        {
            var reply = replies[s] ?? throw new InvalidOperationException($"stage {s} of job '{spec.JobId}' returned no W_A gradient norms at a window end");
            if (reply.Length != _stages[s].End - _stages[s].First)
                throw new InvalidOperationException($"stage {s} of job '{spec.JobId}' returned {reply.Length} W_A gradient norms for {_stages[s].End - _stages[s].First} adapters");
            reply.CopyTo(norms, _stages[s].First);
        }
        return norms;
    }

    /// <summary>Has every stage apply optimizer step <paramref name="step"/>; returns once all have.</summary>
    public Task ApplyStepAsync(int step, double lr, float clipCoefficient) =>
        Task.WhenAll(_stages.Select(s => s.Grain.ApplyAdapterStep(new AdapterStep(spec.JobId, attempt, step, lr, clipCoefficient)))).WaitAsync(stop);

    /// <summary>Copies every stage's W_A slices and AdamW state into the core (between optimizer steps).</summary>
    public async Task CollectAsync(SideTrainerCore core)
    {
        var states = await Task.WhenAll(_stages.Select(s => s.Grain.ExportAdapters(spec.JobId, attempt))).WaitAsync(stop);
        using var scope = NewDisposeScope();
        core.ImportAdapterSlices(states.SelectMany(s => s.Slices).Select(FromWire).ToList());
    }

    /// <summary>Tells the stages to drop the job's slices (best effort: a dead stage has nothing to drop).</summary>
    public Task ReleaseAsync() => Task.WhenAll(_stages.Select(s => s.Grain.ReleaseAdapters(spec.JobId, attempt))).WaitAsync(stop);

    public static AdapterSlice ToWire(StageAdapters.Slice s) =>
        new(s.Adapter, TensorPayloads.From(s.Weight), TensorPayloads.From(s.ExpAvg), TensorPayloads.From(s.ExpAvgSq), s.Step);

    /// <summary>Tensors made in the caller's dispose scope.</summary>
    public static StageAdapters.Slice FromWire(AdapterSlice s) =>
        new(s.Adapter, TensorPayloads.ToTensor(s.Weight), TensorPayloads.ToTensor(s.ExpAvg), TensorPayloads.ToTensor(s.ExpAvgSq), s.Step);
}
