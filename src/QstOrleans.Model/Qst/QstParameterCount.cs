using QstOrleans.Model.Config;

namespace QstOrleans.Model.Qst;

/// <summary>
/// Trainable parameters of the QST side network from the shapes alone (spec §2), without
/// allocating anything: usable for 70B shapes on a laptop.
/// <code>
/// per layer: side = 2·d² + 2·d·(n_kv·d_h) + 3·d·I_s + 2·d;  down = H·p + p·d + 2·d;  gate = d
/// total = N·(side + down + gate) + d + d·E + E  [+ E when the merge gate trains]
/// </code>
/// </summary>
public sealed record QstParameterCount(long SideLayers, long Downsample, long Gates, long SideNorm, long Upsample, long MergeGate)
{
    public long Total => SideLayers + Downsample + Gates + SideNorm + Upsample + MergeGate;

    public static QstParameterCount Of(ModelConfig model, QstConfig config)
    {
        var s = config.SideShape(model);
        long d = s.Hidden, kv = s.KvDim, iS = s.Intermediate, h = model.HiddenSize, p = config.AdapterBottleneck;
        long e = QstConfig.OutputWidth(model), n = model.NumLayers;
        long side = model.Architecture == ModelArchitecture.Opt
            // OPT side layer: 4 d×d projections + fc1/fc2 (+ biases), two LayerNorms (weight + bias)
            ? 4 * d * d + 2 * d * iS + (s.Bias ? 4 * d + iS + d : 0) + 4 * d
            : 2 * d * d + 2 * d * kv + 3 * d * iS + 2 * d;
        long norms = (config.LayerNormAfterAdapter ? 2 * d : 0) + (config.LayerNormBeforeAdapter ? 2 * h : 0);
        long down = h * p + p * d + norms;
        long sideNorm = model.Architecture == ModelArchitecture.Opt ? 2 * d : d;
        return new QstParameterCount(n * side, n * down, n * d, sideNorm, d * e + e, config.TrainMergeGate ? e : 0);
    }
}
