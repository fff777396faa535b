using QstOrleans.Grains.Transport;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Layers;
using static TorchSharp.torch;

namespace QstOrleans.Grains.Stages;

/// <summary>
/// A stage's forward-only pass for evaluation (<see cref="IBackboneStageGrain.ForwardOnly"/>): the same
/// <see cref="BackboneStage.Forward"/> the training worker runs, on a validation or MMLU micro-batch, returning the full taps
/// (whatever <c>pipeline.taps</c> the job trains with: an evaluation computes what <c>train-local</c> evaluates, the
/// inference form over hidden states). The frozen backbone makes the result independent of when it runs, so it needs no
/// ordering against the training micro-batches; <paramref name="gate"/> (the worker's forward lock) keeps the two passes
/// from sharing the layers' lazily filled caches at once.
/// </summary>
internal static class StageForwardOnly
{
    public static StageForwardResult Run(BackboneStage stage, Device device, object gate, StageForwardRequest request)
    {
        lock (gate)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var input = TensorPayloads.ToTensor(request.Input).to(device);               // ids [B, T] or hidden [B, T, H]
            var mask = TensorPayloads.ToTensor(request.AttentionMask).to(device);        // [B, T]
            using var context = AttentionContext.Create(mask);
            using var output = stage.Forward(input, context);
            var taps = output.Taps.Select(TensorPayloads.From).ToList();                 // [B, T, H] each
            var finalNormed = output.FinalNormed is null ? null : TensorPayloads.From(output.FinalNormed);   // [B, T, E]
            return new StageForwardResult(taps, finalNormed);
        }
    }
}
