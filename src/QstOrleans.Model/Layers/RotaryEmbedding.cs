using QstOrleans.Model.Tensors;
using QstOrleans.Model.Config;
using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>
/// Rotary position embedding, HF "rotate half" convention (spec §13): pairs (j, j + D/2),
/// θ_j = base^(−2j/D). Angles in fp32, applied in the activations' dtype. HF checkpoints are
/// already permuted for this convention, so weights load as-is. Supports Llama 3.1's "llama3"
/// frequency scaling and "linear" scaling.
/// </summary>
public static class RotaryEmbedding
{
    /// <summary>Inverse frequencies [D/2] (double precision, then fp32 as transformers does).</summary>
    public static float[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling)
    {
        var inv = new float[headDim / 2];
        for (int j = 0; j < inv.Length; j++)
        {
            double f = 1.0 / Math.Pow(theta, 2.0 * j / headDim);
            inv[j] = (float)Scale(f, scaling);
        }
        return inv;
    }

    static double Scale(double freq, RopeScaling? s)
    {
        if (s is null) return freq;
        if (s.Type == "linear") return freq / s.Factor;
        // llama3: keep high frequencies, divide low ones by the factor, blend in between.
        double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        double wavelen = 2 * Math.PI / freq;
        if (wavelen < highWavelen) return freq;
        if (wavelen > lowWavelen) return freq / s.Factor;
        double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
        return (1 - smooth) * freq / s.Factor + smooth * freq;
    }

    /// <param name="positions">[B, T] int64.</param>
    /// <returns>cos, sin: [B, 1, T, D] fp32, the D/2 angles repeated twice.</returns>
    public static (Tensor Cos, Tensor Sin) Tables(Tensor positions, int headDim, double theta, RopeScaling? scaling)
    {
        using var scope = NewDisposeScope();
        var inv = tensor(InverseFrequencies(headDim, theta, scaling), device: positions.device);   // [D/2]
        var angles = positions.to(ScalarType.Float32).unsqueeze(-1) * inv;             // [B, T, D/2]
        var full = cat([angles, angles], -1).unsqueeze(1);                              // [B, 1, T, D]
        return (full.cos().MoveToOuterDisposeScope(), full.sin().MoveToOuterDisposeScope());
    }

    /// <summary>x' = x ⊙ cos + rot(x) ⊙ sin, rot(x) = [−x_{D/2..}, x_{..D/2}]. x: [B, h, T, D].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        var rotated = cat([x2.neg(), x1], -1);
        return (x * cos.to(x.dtype)).Plus(rotated * sin.to(x.dtype));
    }
}
