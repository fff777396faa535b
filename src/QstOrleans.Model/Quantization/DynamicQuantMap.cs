namespace QstOrleans.Model.Quantization;

/// <summary>
/// The 256-entry signed 8-bit dynamic map (DYN) bitsandbytes uses to quantize the absmax vector
/// under double quantization (spec §9.4): <c>create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)</c>.
/// Features:
/// <list type="bullet">
/// <item><see cref="Create"/>: the map built in fp32 the way PyTorch/bitsandbytes does it
/// (fp32 linspace, fp32 midpoints, fp32 scale), sorted ascending. Index 127 = 0, 255 = 1.0, no -1.0.</item>
/// <item><see cref="Nearest"/>: the bitsandbytes quantizer: a 7-step binary search from index 127,
/// then rounding by the midpoint to the neighbour.</item>
/// </list>
/// Caveat: PyTorch's vectorised linspace may differ from the scalar formula by an ulp on some
/// entries, so a map made by a given PyTorch build can differ by an ulp from ours. That is why every
/// quantized tensor stores its map and dequantization always uses the stored one.
/// Throws <see cref="ArgumentException"/> from <see cref="Nearest"/> when the map is not 256 long.
/// </summary>
public static class DynamicQuantMap
{
    /// <summary>Number of entries.</summary>
    public const int Size = 256;

    /// <summary>Index of the 0.0 entry.</summary>
    public const int ZeroIndex = 127;

    /// <summary>Builds the map (fresh array, ascending).</summary>
    public static float[] Create()
    {
        const int maxExponentBits = 7;
        var data = new List<float>(Size);
        for (int e = 0; e < maxExponentBits; e++)
        {
            int steps = (1 << e) + 1; // fraction_items = 2^e + 1 boundaries
            var boundaries = Linspace(0.1f, 1.0f, steps);
            // Python: (10 ** (e - 6)) * means; the double scalar is cast to fp32 by the CPU mul kernel.
            float scale = (float)Math.Pow(10.0, e - (maxExponentBits - 1));
            for (int k = 0; k < steps - 1; k++)
            {
                float mean = (boundaries[k] + boundaries[k + 1]) / 2.0f;
                float m = scale * mean;
                data.Add(m);
                data.Add(-m);
            }
        }
        data.Add(0f);
        data.Add(1.0f);
        var map = data.ToArray();
        Array.Sort(map);
        return map;
    }

    /// <summary>
    /// fp32 linspace as PyTorch's scalar CPU kernel computes it: the first half counts up from
    /// start, the second half counts down from end, so both ends are exact.
    /// </summary>
    private static float[] Linspace(float start, float end, int steps)
    {
        var result = new float[steps];
        float step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++)
            result[i] = i < halfway ? start + step * i : end - step * (steps - i - 1);
        return result;
    }

    /// <summary>
    /// Index of the entry nearest to x (x already normalised into [-1, 1]), exactly as the
    /// bitsandbytes blockwise quantizer picks it: binary search over the sorted map starting at
    /// index 127 with steps 64, 32, …, 1, then compare x with the midpoint to the bracketing neighbour.
    /// </summary>
    /// <exception cref="ArgumentException">The map does not have 256 entries.</exception>
    public static int Nearest(ReadOnlySpan<float> map, float x)
    {
        if (map.Length != Size)
            throw new ArgumentException($"Dynamic quant map must have {Size} entries, got {map.Length}.", nameof(map));

        int pivot = ZeroIndex;
        int above = Size - 1, below = 0;          // bracketing indices seen so far
        float aboveValue = 1.0f, belowValue = -1.0f;
        float value = map[pivot];
        for (int stride = 64; stride > 0; stride >>= 1)
        {
            if (x > value)
            {
                below = pivot;
                belowValue = value;
                pivot += stride;
            }
            else
            {
                above = pivot;
                aboveValue = value;
                pivot -= stride;
            }
            value = map[pivot];
        }
        // If the search never turned at an end, the bracket is the map's own end entry.
        if (above == Size - 1) aboveValue = map[above];
        if (below == 0) belowValue = map[below];

        if (x > value)
            return x > (aboveValue + value) * 0.5f ? above : pivot;
        return x < (belowValue + value) * 0.5f ? below : pivot;
    }
}
