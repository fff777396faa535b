using QstOrleans.Model.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Qst;

/// <summary>Creates side-network parameters with the reference's init (spec §3) and storage dtype (spec §4).</summary>
internal static class SideParameters
{
    /// <summary>U(±1/√in) weight [out, in] (and bias [out]), fp32 master or compute-dtype storage per
    /// <see cref="QstConfig.Fp32MasterWeights"/>; on <paramref name="device"/> (null: default; meta: shapes only).</summary>
    public static DenseLinear Linear(long outFeatures, long inFeatures, bool bias, QstConfig config, Precision precision, Generator generator,
        Device? device = null)
    {
        var linear = DenseLinear.CreateTrainable(outFeatures, inFeatures, bias, generator, device: device);
        if (!config.Fp32MasterWeights && precision.Compute != ScalarType.Float32)
        {
            using var w = linear.Weight.detach().to(precision.Compute);
            using var b = linear.Bias?.detach().to(precision.Compute);
            var stored = new DenseLinear(w.clone(), b?.clone(), trainable: true);
            linear.Dispose();
            return stored;
        }
        return linear;
    }

    /// <summary>A linear factory for side decoder layers (all projections trainable, seeded init).</summary>
    public static LinearFactory Factory(QstConfig config, Precision precision, Generator generator, Device? device = null) =>
        (name, outF, inF, bias) => Linear(outF, inF, bias, config, precision, generator, device);
}
