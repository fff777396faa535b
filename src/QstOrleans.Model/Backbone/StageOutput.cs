using static TorchSharp.torch;

namespace QstOrleans.Model.Backbone;

/// <summary>
/// What a backbone stage produces for one micro-batch: the QST taps of its layers (the first stage's
/// list starts with the embedding output) and, on the last stage, ĥ = the final-normed output.
/// Owns its tensors.
/// </summary>
public sealed class StageOutput(List<Tensor> taps, Tensor? finalNormed) : IDisposable
{
    /// <summary>[B, T, H] fp32 each: embedding output (first stage only), then one per layer.</summary>
    public IReadOnlyList<Tensor> Taps { get; } = taps;
    /// <summary>[B, T, H] fp32: the residual stream after the stage's last layer (the next stage's input).</summary>
    public Tensor Hidden => Taps[^1];
    /// <summary>[B, T, E] fp32 on the last stage: final norm (and OPT's project_out) applied; else null.</summary>
    public Tensor? FinalNormed { get; } = finalNormed;

    public void Dispose()
    {
        foreach (var t in Taps) t.Dispose();
        FinalNormed?.Dispose();
    }
}
