using QstOrleans.Model.Config;

namespace QstOrleans.Model.Layers;

/// <summary>
/// The dimensions of one decoder layer. The backbone uses the model's; a QST side layer uses the
/// same record with hidden = H/r and intermediate = I/r, head counts unchanged (spec §1.4).
/// </summary>
public sealed record LayerShape(
    int Hidden, int Intermediate, int Heads, int KvHeads, int HeadDim, double NormEps,
    double RopeTheta, RopeScaling? RopeScaling, bool Bias = false)
{
    public int QDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;

    public static LayerShape Of(ModelConfig c) => new(
        c.HiddenSize, c.IntermediateSize, c.NumHeads, c.NumKeyValueHeads, c.HeadDim, c.NormEps,
        c.RopeTheta, c.RopeScaling, Bias: c.Architecture == ModelArchitecture.Opt && c.EnableBias);
}
