using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Model.Evaluation;

/// <summary>
/// Puts a model's trainable modules in eval mode (adapter dropout off) and autograd off for the life of the
/// scope, then restores training mode: evaluation must neither see dropout nor build graphs.
/// </summary>
internal sealed class EvaluationMode : IDisposable
{
    readonly nn.Module? _module;
    readonly IDisposable _noGrad;

    EvaluationMode(nn.Module? module)
    {
        _module = module;
        _module?.eval();
        _noGrad = no_grad();
    }

    public static EvaluationMode Enter(ITrainableModel model) => new(model switch
    {
        QstModel q => q.Side,
        BaselineModel b => b.Backbone,
        _ => null,
    });

    public void Dispose()
    {
        _noGrad.Dispose();
        _module?.train();
    }
}
