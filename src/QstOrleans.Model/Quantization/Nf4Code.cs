namespace QstOrleans.Model.Quantization;

/// <summary>
/// The 16-value NF4 code of bitsandbytes 0.43.3 (spec §9.1) and its 15 midpoint thresholds (§9.2).
/// Features:
/// <list type="bullet">
/// <item>Values: index → value, ascending (index 7 = 0.0, index 15 = 1.0). Stored as published
/// constants, never regenerated from normal quantiles.</item>
/// <item>Thresholds: t_k = (c_k + c_{k+1}) / 2, the fp32 literals the bitsandbytes kernel compares against.</item>
/// <item><see cref="Quantize"/>: the code index of an already normalised value x (x = w / absmax).</item>
/// </list>
/// Throws nothing.
/// </summary>
public static class Nf4Code
{
    /// <summary>Elements per absmax block (bitsandbytes blocksize for NF4 here).</summary>
    public const int BlockSize = 64;

    /// <summary>Code index whose value is exactly 0.0 (used for all-zero blocks).</summary>
    public const int ZeroIndex = 7;

    // Published constants (spec §9.1); each literal is the exact double of an fp32 value.
    private static readonly float[] ValuesArray =
    {
        -1.0f,
        -0.6961928009986877f,
        -0.5250730514526367f,
        -0.39491748809814453f,
        -0.28444138169288635f,
        -0.18477343022823334f,
        -0.09105003625154495f,
        0.0f,
        0.07958029955625534f,
        0.16093020141124725f,
        0.24611230194568634f,
        0.33791524171829224f,
        0.44070982933044434f,
        0.5626170039176941f,
        0.7229568362236023f,
        1.0f,
    };

    // Published midpoints (spec §9.2), rounded to fp32 exactly as the CUDA kernel's float literals.
    private static readonly float[] ThresholdsArray =
    {
        -0.8480964004993439f,
        -0.6106329262256622f,
        -0.4599952697753906f,
        -0.33967943489551544f,
        -0.23460740596055984f,
        -0.13791173323988914f,
        -0.045525018125772476f,
        0.03979014977812767f,
        0.1202552504837513f,
        0.2035212516784668f,
        0.2920137718319893f,
        0.3893125355243683f,
        0.5016634166240692f,
        0.6427869200706482f,
        0.8614784181118011f,
    };

    /// <summary>The 16 code values, ascending.</summary>
    public static IReadOnlyList<float> Values => ValuesArray;

    /// <summary>The 15 midpoint thresholds, ascending.</summary>
    public static IReadOnlyList<float> Thresholds => ThresholdsArray;

    /// <summary>A fresh copy of the 16 code values (for building a quant_map tensor).</summary>
    public static float[] ToArray() => (float[])ValuesArray.Clone();

    /// <summary>
    /// Code index of a normalised value: the number of thresholds strictly below x, so a value
    /// exactly on a threshold goes to the lower index. NaN yields 0 (every comparison is false),
    /// as in bitsandbytes.
    /// </summary>
    public static int Quantize(float x)
    {
        // Branchy binary search over the 15 thresholds: 4 comparisons, same result as a linear count.
        var t = ThresholdsArray;
        int idx;
        if (x > t[7])
        {
            if (x > t[11])
                idx = x > t[13] ? (x > t[14] ? 15 : 14) : (x > t[12] ? 13 : 12);
            else
                idx = x > t[9] ? (x > t[10] ? 11 : 10) : (x > t[8] ? 9 : 8);
        }
        else
        {
            if (x > t[3])
                idx = x > t[5] ? (x > t[6] ? 7 : 6) : (x > t[4] ? 5 : 4);
            else
                idx = x > t[1] ? (x > t[2] ? 3 : 2) : (x > t[0] ? 1 : 0);
        }
        return idx;
    }
}
