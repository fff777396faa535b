using QstOrleans.Model.Baselines;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>A model the trainer can fit: QST or one of the baselines.</summary>
public interface ITrainableModel : IDisposable
{
    TrainingMethod Method { get; }

    /// <summary>The parameters the optimizer updates (and nothing else requires grad).</summary>
    IReadOnlyList<Parameter> TrainableParameters { get; }

    /// <summary>Where the model computes: inputs go there (CPU, or a CUDA device).</summary>
    Device Device { get; }

    /// <summary>Logits [B, T, V] fp32, with an autograd graph to the trainable parameters.</summary>
    Tensor Logits(Tensor inputIds, Tensor attentionMask);
}
