using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// Quantizes a weight to NF4 exactly as bitsandbytes 0.43.3 <c>quantize_4bit(quant_type="nf4", blocksize=64)</c>
/// (spec §9.2–9.4), optionally with double quantization (<c>compress_statistics=True</c>).
/// Features:
/// <list type="bullet">
/// <item>Reads bf16 / f16 / f32 input straight from its storage (widened to fp32 per 64-block), so
/// only the input and the packed output are alive at full size (plus an fp32 absmax per 64 weights).</item>
/// <item>absmax per 64-block in fp32, x = w · (1/absmax), index = #thresholds strictly below x,
/// two codes per byte with the first element in the high nibble; a partial last block gets its own absmax.</item>
/// <item>All-zero blocks emit index 7 (0.0) instead of bitsandbytes' NaN → index 0 (documented deviation).</item>
/// <item>Double quantization: offset = mean(absmax), groups of 256 centred absmax values scaled by
/// their max |·| and rounded to the nearest DYN entry.</item>
/// </list>
/// Throws <see cref="ArgumentException"/> for an empty or scalar tensor or a dtype other than
/// BFloat16, Float16 or Float32.
/// </summary>
public static class Nf4Quantizer
{
    /// <summary>Quantizes <paramref name="weight"/> (any shape of rank ≥ 1, flattened row-major).</summary>
    /// <exception cref="ArgumentException">Empty/scalar tensor or unsupported dtype.</exception>
    public static Nf4Tensor Quantize(Tensor weight, bool doubleQuant = true)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() == 0 || weight.numel() == 0)
            throw new ArgumentException($"NF4 quantization needs a non-empty tensor of rank >= 1, got shape [{string.Join(", ", weight.shape)}].", nameof(weight));
        var dtype = weight.dtype;
        if (dtype != ScalarType.BFloat16 && dtype != ScalarType.Float16 && dtype != ScalarType.Float32)
            throw new ArgumentException($"NF4 quantization supports BFloat16, Float16 or Float32 weights, got {dtype}.", nameof(weight));

        // Only a non-contiguous or non-CPU input needs a temporary copy; the usual case reads in place.
        using var temp = weight.device_type != DeviceType.CPU || !weight.is_contiguous() ? weight.cpu().contiguous() : null;
        return Quantize(Nf4Kernels.Address(temp ?? weight), dtype, weight.shape, doubleQuant);
    }

    /// <summary>
    /// Quantizes a row-major weight held in raw memory (e.g. straight from a memory-mapped safetensors
    /// file, so loading never copies the dense weight into process memory).
    /// </summary>
    /// <param name="data">Address of the first element; must stay valid during the call.</param>
    /// <param name="dtype">BFloat16, Float16 or Float32.</param>
    /// <param name="shape">The weight's shape (rank ≥ 1, non-empty).</param>
    public static Nf4Tensor Quantize(IntPtr data, ScalarType dtype, long[] shape, bool doubleQuant = true)
    {
        if (dtype != ScalarType.BFloat16 && dtype != ScalarType.Float16 && dtype != ScalarType.Float32)
            throw new ArgumentException($"NF4 quantization supports BFloat16, Float16 or Float32 weights, got {dtype}.", nameof(dtype));
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (shape.Length == 0 || n == 0)
            throw new ArgumentException($"NF4 quantization needs a non-empty tensor of rank >= 1, got shape [{string.Join(", ", shape)}].", nameof(shape));
        long blocks = (n + Nf4Code.BlockSize - 1) / Nf4Code.BlockSize;

        Tensor? packed = null;
        try
        {
            packed = empty(new[] { (n + 1) / 2 }, ScalarType.Byte);
            var absmax = new float[blocks];
            Nf4Kernels.Quantize(data, dtype, n, Nf4Kernels.Address(packed), absmax);

            var quantMap = tensor(Nf4Code.ToArray());
            if (!doubleQuant)
                return new Nf4Tensor(shape, packed, tensor(absmax), null, null, 0f, quantMap, null, dtype);

            var (q8, nested, offset) = QuantizeAbsmax(absmax);
            return new Nf4Tensor(shape, packed, null, tensor(q8), tensor(nested), offset, quantMap,
                tensor(DynamicQuantMap.Create()), dtype);
        }
        catch
        {
            packed?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Double quantization of the absmax vector (spec §9.4): returns the DYN index per block, the
    /// fp32 max |absmax - offset| per 256-group, and the offset.
    /// </summary>
    internal static (byte[] Q8, float[] Nested, float Offset) QuantizeAbsmax(float[] absmax)
    {
        // torch.mean in fp32; a double accumulator gives the correctly rounded mean, which may differ
        // from PyTorch's fp32 pairwise sum by an ulp (the offset is stored, so decoding is unaffected).
        double sum = 0;
        foreach (var a in absmax) sum += a;
        float offset = (float)(sum / absmax.Length);

        var map = DynamicQuantMap.Create();
        int groups = (absmax.Length + Nf4Tensor.NestedBlockSize - 1) / Nf4Tensor.NestedBlockSize;
        var nested = new float[groups];
        var q8 = new byte[absmax.Length];
        for (int g = 0; g < groups; g++)
        {
            int start = g * Nf4Tensor.NestedBlockSize;
            int end = Math.Min(start + Nf4Tensor.NestedBlockSize, absmax.Length);
            float gmax = 0f;
            for (int b = start; b < end; b++)
                gmax = Math.Max(gmax, Math.Abs(absmax[b] - offset));
            nested[g] = gmax;
            if (gmax == 0f)
            {
                // Every centred value is 0: any index decodes to offset. bitsandbytes gets NaN and
                // index 0; we pick the 0.0 entry, which decodes identically.
                for (int b = start; b < end; b++) q8[b] = DynamicQuantMap.ZeroIndex;
                continue;
            }
            float scale = 1f / gmax;
            for (int b = start; b < end; b++)
                q8[b] = (byte)DynamicQuantMap.Nearest(map, (absmax[b] - offset) * scale);
        }
        return (q8, nested, offset);
    }
}
