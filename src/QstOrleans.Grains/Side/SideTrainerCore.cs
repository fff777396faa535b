using QstOrleans.Grains.Jobs;
using QstOrleans.Grains.Transport;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Grains.Side;

/// <summary>
/// The side trainer's state and arithmetic, free of Orleans: the side network, frozen LM head and
/// <see cref="OptimizerStepper"/> (the same step code as the single-process trainer), plus the reorder
/// buffer. Micro-batches are applied strictly in sequence order, whatever order their taps arrive in,
/// so a distributed run equals the single-process one bitwise on CPU. Saves and restores itself at step boundaries
/// with <see cref="TrainingCheckpoint"/>. Not thread-safe: one worker owns it.
/// </summary>
/// <remarks><see cref="Restore"/> throws <see cref="InvalidDataException"/> for a checkpoint of another job spec, plus
/// what <see cref="TrainingCheckpoint.Restore(string, QstSideNetwork, OptimizerStepper, TorchSharp.torch.Generator?)"/> throws.</remarks>
public sealed class SideTrainerCore : IDisposable
{
    readonly QstSideNetwork _side;
    readonly FrozenLmHead _head;
    readonly OptimizerStepper _stepper;
    /// <summary>The side micro-step the single-process trainer runs too (bitwise equality by construction).</summary>
    readonly SideMicroStep _step;
    readonly int _tapCount;
    readonly SideSpec _spec;
    /// <summary>Optimizer parameter index of each adapter's W_A (lean taps: their gradients and updates live on the stages).</summary>
    readonly int[] _projectionIndex;
    readonly string _specHash;
    readonly Dictionary<long, TapAssembly> _taps = new();
    readonly Dictionary<long, SideBatch> _batches = new();
    /// <summary>Loss of every completed step (index = step − 1), saved with each checkpoint so a restore knows them too.</summary>
    readonly List<float> _stepLosses = [];

    /// <summary>The checkpoint part holding the step losses (raw little-endian float32, one per step).</summary>
    public const string LossesFile = "losses.f32";

    /// <param name="spec">The side trainer's spec.</param>
    /// <param name="modelDirectory">Where this silo reads the model (its copy of a <c>store:models/…</c> URI); null = the spec's path.</param>
    public SideTrainerCore(SideSpec spec, string? modelDirectory = null)
    {
        var job = spec.Job;
        string model = modelDirectory ?? job.ModelDirectory;
        var config = ModelConfig.Load(model);
        var backbone = SpecMapping.Backbone(job);
        _side = new QstSideNetwork(config, SpecMapping.Qst(job).Validate(config), backbone.Compute, job.Seed);
        _head = BackboneLoader.LoadLmHead(model, config, backbone);
        _stepper = new OptimizerStepper(_side.parameters().Where(p => p.requires_grad).ToList(), SpecMapping.Optimizer(job),
            job.GradientAccumulation, spec.TotalSteps);
        _step = new SideMicroStep(_side, _head, new TrainingStep(_stepper));
        _tapCount = spec.TapCount;
        IsLean = ModelBuildOptions.IsLean(job.Taps);
        if (IsLean && !_side.SupportsLeanTaps)
            throw new ArgumentException("pipeline.taps = lean needs qst.layer_norm_before_adapter = false and qst.adapter_dropout = 0 " +
                                        "(both read the full hidden state before W_A); use --taps full");
        var names = TrainableNames();
        _projectionIndex = Enumerable.Range(0, config.NumLayers).Select(i => names.IndexOf(QstSideNetwork.ProjectionName(i))).ToArray();
        _spec = spec;
        _specHash = JobSpecHash.OfTraining(job);
    }

    /// <summary>Lean taps: the stages send U = W_A·x and hold W_A (see <see cref="AdapterSlices"/>).</summary>
    public bool IsLean { get; }

    /// <summary>The next sequence number to apply.</summary>
    public long Next { get; private set; }
    public int Steps => _stepper.Step;

    /// <summary>Losses of the steps completed so far (restored ones included; NaN where a checkpoint had none).</summary>
    public IReadOnlyList<float> StepLosses => _stepLosses;

    /// <summary>Writes a checkpoint of the current step boundary into <paramref name="directory"/> (the three
    /// <see cref="TrainingCheckpoint.Files"/>, the step losses and the job's config); call only right after a completed step.</summary>
    public TrainingState SaveCheckpoint(string directory)
    {
        int perEpoch = Math.Max(1, _spec.MicroBatchesPerEpoch);
        Directory.CreateDirectory(directory);
        TrainingCheckpoint.SaveConfig(directory, _spec.Job.Config);
        File.WriteAllBytes(Path.Combine(directory, LossesFile), System.Runtime.InteropServices.MemoryMarshal.AsBytes(_stepLosses.ToArray().AsSpan()).ToArray());
        return TrainingCheckpoint.Save(directory, _side, _stepper, new TrainingState
        {
            NextMicroBatch = Next, Epoch = (int)(Next / perEpoch), IndexInEpoch = (int)(Next % perEpoch),
            Seed = _spec.Job.Seed, JobSpecHash = _specHash,
        });
    }

    /// <summary>Restores a checkpoint written by <see cref="SaveCheckpoint"/> for the same training spec; continues at its next micro-batch.</summary>
    /// <param name="source">Where the checkpoint came from, for messages.</param>
    public TrainingState Restore(string directory, string source)
    {
        var state = TrainingCheckpoint.ReadState(Path.Combine(directory, TrainingCheckpoint.StateFile));
        if (state.JobSpecHash != _specHash)
            throw new InvalidDataException($"{source}: checkpoint step {state.Step} was written for job spec hash '{state.JobSpecHash}', " +
                                           $"but job '{_spec.JobId}' has spec hash '{_specHash}' (another model, data, schedule or seed?); " +
                                           "use another job id or remove that checkpoint");
        state = TrainingCheckpoint.Restore(directory, _side, _stepper);
        Next = state.NextMicroBatch;
        _step.Step.ResetWindow();
        _stepLosses.Clear();
        string losses = Path.Combine(directory, LossesFile);
        if (File.Exists(losses))
        {
            var bytes = File.ReadAllBytes(losses);
            if (bytes.Length != state.Step * sizeof(float))
                throw new InvalidDataException($"{source}: {LossesFile} holds {bytes.Length / sizeof(float)} losses, expected {state.Step}");
            _stepLosses.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray());
        }
        return state;
    }

    public void Add(SideBatch batch)
    {
        if (batch.Sequence >= Next) _batches[batch.Sequence] = batch;   // older ones were applied already: ignore
    }

    public void Add(TapChunk chunk)
    {
        if (chunk.Sequence < Next) return;
        if (!_taps.TryGetValue(chunk.Sequence, out var assembly))
        {
            assembly = new TapAssembly(_tapCount);
            _taps[chunk.Sequence] = assembly;
        }
        assembly.Add(chunk);
    }

    /// <summary>
    /// Runs forward and backward of the next micro-batch if all of its inputs are here; null otherwise. Lean taps: the
    /// result carries G_t = ∂L/∂U_t for every tap (index = tap), which the stages need before the step can be applied.
    /// Complete it with <see cref="Finish"/>.
    /// </summary>
    public Accumulated? TryAccumulateNext()
    {
        if (!_batches.TryGetValue(Next, out var batch) || !_taps.TryGetValue(Next, out var taps) || !taps.IsComplete) return null;
        IReadOnlyList<TensorPayload>? gradients = null;
        using (NewDisposeScope())
        {
            var labels = TensorPayloads.ToTensor(batch.Labels);                          // [B, T]
            var mask = TensorPayloads.ToTensor(batch.AttentionMask);                     // [B, T]
            var inputs = Enumerable.Range(0, _tapCount).Select(taps.Tensor).ToList();   // full: [B, T, H] each; lean: U [B, T, p]
            var finalNormed = taps.Tensor(TapChunk.FinalNormed);                         // [B, T, E] (lean: compute dtype)
            using var context = AttentionContext.Create(mask);
            if (IsLean)
            {
                var (_, g) = _step.AccumulateProjected(inputs, finalNormed, context, labels);
                gradients = g.Select(TensorPayloads.From).ToList();                       // [B, T, p] each
            }
            else _step.Accumulate(inputs, finalNormed, context, labels);
        }
        _batches.Remove(Next);
        _taps.Remove(Next);
        return new Accumulated(Next++, _stepper.StepDue, gradients);
    }

    /// <summary>Completes a micro-batch from <see cref="TryAccumulateNext"/>: at a window end applies the optimizer step.</summary>
    /// <param name="stageSquaredNorms">Lean taps at a window end: Σ g² of each adapter's W_A gradient (index = adapter), from the stages.</param>
    public Applied Finish(Accumulated accumulated, IReadOnlyList<double>? stageSquaredNorms = null)
    {
        Dictionary<int, double>? remote = null;
        if (IsLean && accumulated.WindowEnd)
        {
            if (stageSquaredNorms is null || stageSquaredNorms.Count != _projectionIndex.Length)
                throw new InvalidOperationException($"lean taps: the step needs the W_A gradient norms of all {_projectionIndex.Length} adapters");
            remote = _projectionIndex.Select((index, adapter) => (index, adapter)).ToDictionary(p => p.index, p => stageSquaredNorms[p.adapter]);
        }
        if (_step.ApplyIfDue(remote) is not { } applied) return new Applied(accumulated.Sequence, _stepper.Step, float.NaN, false, null);
        _stepLosses.Add(applied.Loss);
        return new Applied(accumulated.Sequence, applied.Step, applied.Loss, true, applied);
    }

    /// <summary>The W_A slices of adapters [first, end) with their AdamW state, as this side network holds them (CPU copies).</summary>
    public IReadOnlyList<StageAdapters.Slice> AdapterSlices(int first, int end)
    {
        using var noGrad = no_grad();
        var parameters = _stepper.Parameters;
        return Enumerable.Range(first, end - first).Select(a =>
        {
            int i = _projectionIndex[a];
            var state = _stepper.States[i];
            return new StageAdapters.Slice(a, parameters[i].detach().clone(), state.ExpAvg.clone(), state.ExpAvgSq.clone(), state.Step);
        }).ToList();
    }

    /// <summary>Copies slices held by a stage (weights and AdamW state) into this side network and its optimizer.</summary>
    public void ImportAdapterSlices(IEnumerable<StageAdapters.Slice> slices)
    {
        using var noGrad = no_grad();
        foreach (var slice in slices)
        {
            int i = _projectionIndex[slice.Adapter];
            _stepper.Parameters[i].copy_(slice.Weight);
            _stepper.States[i].ExpAvg.copy_(slice.ExpAvg);
            _stepper.States[i].ExpAvgSq.copy_(slice.ExpAvgSq);
            _stepper.States[i].Step = slice.Step;
        }
    }

    List<string> TrainableNames() => _side.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();

    /// <summary>Writes the side network's export (<c>side_model.safetensors</c> + <c>side_config.json</c> bound to the base
    /// model, <see cref="SideNetworkExport"/>): the files <c>train-local --out</c> writes. Lean taps: after the stages' W_A was collected.</summary>
    public SideNetworkManifest Export(string directory)
    {
        var backbone = SpecMapping.Backbone(_spec.Job);
        return SideNetworkExport.Export(_side, new SideNetworkTraining(backbone.Compute, _spec.Job.Seed, backbone.Format, backbone.DoubleQuant), directory);
    }

    /// <summary>
    /// Logits [B, T, V] of an evaluation micro-batch from its full taps, in the inference form <c>train-local</c> evaluates
    /// (<see cref="SideMicroStep.Logits"/>): side network in eval mode, no autograd; its parameters and the optimizer are
    /// untouched. Lean taps: the stages' current W_A must have been collected first. Call inside a dispose scope.
    /// </summary>
    /// <param name="taps">N+1 × [B, T, H], as the stages returned them.</param>
    /// <param name="finalNormed">ĥ [B, T, E].</param>
    /// <param name="attentionMask">[B, T].</param>
    public Tensor EvaluationLogits(IReadOnlyList<TensorPayload> taps, TensorPayload finalNormed, TensorPayload attentionMask)
    {
        var device = _head.Weight.device;
        var inputs = taps.Select(t => TensorPayloads.ToTensor(t).to(device)).ToList();   // [B, T, H] each
        var final = TensorPayloads.ToTensor(finalNormed).to(device);                     // [B, T, E]
        var mask = TensorPayloads.ToTensor(attentionMask).to(device);                    // [B, T]
        _side.eval();   // dropout off, as train-local's evaluation (Model/Evaluation/EvaluationMode)
        try
        {
            using var noGrad = no_grad();
            using var context = AttentionContext.Create(mask);
            return SideMicroStep.Logits(_side, _head, inputs, final, context);
        }
        finally
        {
            _side.train();
        }
    }

    /// <summary>Trainable weights by name (copies).</summary>
    public Dictionary<string, TensorPayload> Weights() =>
        _side.named_parameters().Where(p => p.parameter.requires_grad)
            .ToDictionary(p => p.name, p => TensorPayloads.From(p.parameter.detach()));

    public void Dispose()
    {
        _stepper.Dispose();
        _side.Dispose();
        _head.Dispose();
    }

    /// <summary>A micro-batch through forward and backward. <see cref="Gradients"/>: lean taps' G_t per tap, else null.</summary>
    public sealed record Accumulated(long Sequence, bool WindowEnd, IReadOnlyList<TensorPayload>? Gradients);

    /// <summary>A completed micro-batch; <see cref="Result"/> is the optimizer step it completed (lr, clip coefficient), if any.</summary>
    public sealed record Applied(long Sequence, int Step, float StepLoss, bool StepCompleted, StepResult? Result);
}
