using QstOrleans.Model.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// One NF4-quantized weight in the bitsandbytes 0.43.3 layout (spec §9.2–9.5), optionally with
/// double-quantized absmax (§9.4).
/// Features:
/// <list type="bullet">
/// <item>Holds the packed nibbles (uint8 [(n+1)/2], first element in the high nibble), the absmax
/// (fp32 per 64-block, or uint8 codes + fp32 per-256 nested absmax + offset), and the 16-entry code
/// and 256-entry nested map it was made with; dequantization always uses these stored maps.</item>
/// <item><see cref="Dequantize"/> to bf16 or fp32 by a parallel raw-memory loop straight into the
/// output storage (no temporary tensors); <see cref="DequantizeInto"/> reuses a caller's buffer.</item>
/// <item>Owns its tensors: they are detached from any dispose scope and freed by <see cref="Dispose"/>.</item>
/// <item>Devices: built on the CPU; <see cref="To"/> copies it to another device (CUDA), where
/// <see cref="Dequantize"/> runs <see cref="DequantizeWithTensorOps"/> (the same arithmetic as tensor operations,
/// bitwise equal to the CPU kernel, which the tests check on the CPU).</item>
/// </list>
/// Throws <see cref="ArgumentException"/> for an unsupported output dtype and
/// <see cref="ObjectDisposedException"/> after disposal. Construction (internal) throws
/// <see cref="ArgumentException"/> for inconsistent parts.
/// </summary>
public sealed class Nf4Tensor : IDisposable
{
    /// <summary>Absmax values per nested group under double quantization.</summary>
    public const int NestedBlockSize = 256;

    private readonly long[] _shape;
    private readonly float[] _code;          // copy of QuantMap for the hot loop
    private readonly float[]? _nestedMap;    // copy of NestedQuantMap
    private readonly float[]? _nestedAbsmax; // copy of NestedAbsmax (n/16384 floats)
    private bool _disposed;
    private Tensor? _pairTable;              // tensor-op decode table, built on first use

    internal Nf4Tensor(
        long[] shape,
        Tensor packed,
        Tensor? absmax,
        Tensor? quantizedAbsmax,
        Tensor? nestedAbsmax,
        float nestedOffset,
        Tensor quantMap,
        Tensor? nestedQuantMap,
        ScalarType originalDType,
        bool keepDevice = false)
    {
        _shape = (long[])shape.Clone();
        ElementCount = _shape.Aggregate(1L, (a, b) => a * b);
        BlockCount = (ElementCount + Nf4Code.BlockSize - 1) / Nf4Code.BlockSize;
        DoubleQuantized = quantizedAbsmax is not null;

        Require(packed, ScalarType.Byte, (ElementCount + 1) / 2, "packed weight");
        Require(quantMap, ScalarType.Float32, 16, "quant_map");
        if (DoubleQuantized)
        {
            if (absmax is not null || nestedAbsmax is null || nestedQuantMap is null)
                throw new ArgumentException("A double-quantized NF4 tensor needs quantized absmax, nested absmax and nested quant map, and no fp32 absmax.");
            Require(quantizedAbsmax!, ScalarType.Byte, BlockCount, "quantized absmax");
            Require(nestedAbsmax, ScalarType.Float32, (BlockCount + NestedBlockSize - 1) / NestedBlockSize, "nested absmax");
            Require(nestedQuantMap, ScalarType.Float32, DynamicQuantMap.Size, "nested quant_map");
        }
        else
        {
            if (absmax is null || nestedAbsmax is not null || nestedQuantMap is not null)
                throw new ArgumentException("An NF4 tensor without double quantization needs an fp32 absmax and no nested parts.");
            Require(absmax, ScalarType.Float32, BlockCount, "absmax");
        }

        // Own the storage: a caller's dispose scope must not free it under us. Keep 1-D contiguous views.
        Packed = Own(packed, keepDevice);
        Absmax = absmax is null ? null : Own(absmax, keepDevice);
        QuantizedAbsmax = quantizedAbsmax is null ? null : Own(quantizedAbsmax, keepDevice);
        NestedAbsmax = nestedAbsmax is null ? null : Own(nestedAbsmax, keepDevice);
        QuantMap = Own(quantMap, keepDevice);
        NestedQuantMap = nestedQuantMap is null ? null : Own(nestedQuantMap, keepDevice);
        NestedOffset = nestedOffset;
        OriginalDType = originalDType;

        _code = HostCopy(QuantMap)!;
        _nestedMap = HostCopy(NestedQuantMap);
        _nestedAbsmax = HostCopy(NestedAbsmax);
    }

    private static float[]? HostCopy(Tensor? t)
    {
        if (t is null) return null;
        if (t.device_type == DeviceType.CPU) return t.data<float>().ToArray();
        using var host = t.cpu();
        return host.data<float>().ToArray();
    }

    private static void Require(Tensor t, ScalarType dtype, long length, string what)
    {
        if (t.dtype != dtype)
            throw new ArgumentException($"NF4 {what} must be {dtype}, got {t.dtype}.");
        if (t.numel() != length)
            throw new ArgumentException($"NF4 {what} must have {length} elements, got {t.numel()}.");
    }

    private static Tensor Own(Tensor t, bool keepDevice)
    {
        // The hot loops read raw CPU storage, so keep a flat, contiguous CPU tensor (device copies made by
        // To keep their device). reshape(-1) of a contiguous tensor is a view; the other steps copy only when needed.
        Tensor result = t.reshape(-1);
        if (!keepDevice && result.device_type != DeviceType.CPU)
        {
            var cpu = result.cpu();
            result.Dispose();
            result = cpu;
        }
        if (!result.is_contiguous())
        {
            var c = result.contiguous();
            result.Dispose();
            result = c;
        }
        t.Dispose(); // ownership was passed to us; the storage lives on in the view
        // Detach so a caller's dispose scope cannot free storage this object still uses.
        return result.DetachFromDisposeScope();
    }

    /// <summary>Where the stored tensors live.</summary>
    public Device Device => Packed.device;

    /// <summary>
    /// A copy of this weight on <paramref name="device"/> (same codes, absmax and maps; the caller owns both).
    /// Copying to the CPU gives a CPU tensor again.
    /// </summary>
    public Nf4Tensor To(Device device)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        bool keep = device.type != DeviceType.CPU;
        return new Nf4Tensor(_shape, Packed.to(device), Absmax?.to(device), QuantizedAbsmax?.to(device), NestedAbsmax?.to(device),
            NestedOffset, QuantMap.to(device), NestedQuantMap?.to(device), OriginalDType, keepDevice: keep);
    }

    /// <summary>Original weight shape, e.g. [out, in] (a copy).</summary>
    public long[] Shape => (long[])_shape.Clone();

    /// <summary>Number of weights n.</summary>
    public long ElementCount { get; }

    /// <summary>Number of 64-element absmax blocks, ceil(n / 64).</summary>
    public long BlockCount { get; }

    /// <summary>Packed nibbles, uint8 [(n+1)/2].</summary>
    public Tensor Packed { get; }

    /// <summary>fp32 [BlockCount] absmax when not double-quantized, else null.</summary>
    public Tensor? Absmax { get; }

    /// <summary>uint8 [BlockCount] DYN indices when double-quantized, else null.</summary>
    public Tensor? QuantizedAbsmax { get; }

    /// <summary>fp32 [ceil(BlockCount/256)] per-group absmax of the centred absmax, when double-quantized.</summary>
    public Tensor? NestedAbsmax { get; }

    /// <summary>Mean of the absmax vector, added back after decoding (0 when not double-quantized).</summary>
    public float NestedOffset { get; }

    /// <summary>The 16-entry NF4 code used (fp32 [16]).</summary>
    public Tensor QuantMap { get; }

    /// <summary>The 256-entry dynamic map used for the absmax (fp32 [256]), when double-quantized.</summary>
    public Tensor? NestedQuantMap { get; }

    /// <summary>Whether the absmax vector is itself 8-bit quantized.</summary>
    public bool DoubleQuantized { get; }

    /// <summary>Dtype of the weight before quantization (recorded in the bitsandbytes quant state).</summary>
    public ScalarType OriginalDType { get; }

    /// <summary>Bytes held by all stored tensors.</summary>
    public long ByteSize =>
        Packed.numel()
        + (Absmax?.numel() ?? 0) * 4
        + (QuantizedAbsmax?.numel() ?? 0)
        + (NestedAbsmax?.numel() ?? 0) * 4
        + QuantMap.numel() * 4
        + (NestedQuantMap?.numel() ?? 0) * 4;

    /// <summary>
    /// The fp32 absmax per block: stored values, or DYN[q8_b] · absmax2_{b/256} + offset (fp32) when
    /// double-quantized.
    /// </summary>
    public float[] DequantizeAbsmax()
    {
        if (Packed.device_type != DeviceType.CPU)
        {
            using var host = To(CPU);
            return host.DequantizeAbsmax();
        }
        var result = new float[BlockCount];
        FillAbsmax(result);
        return result;
    }

    private void FillAbsmax(Span<float> dest)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!DoubleQuantized)
        {
            Absmax!.data<float>().CopyTo(dest[..(int)BlockCount]);
            return;
        }
        var q = QuantizedAbsmax!.bytes;
        var map = _nestedMap!;
        var nested = _nestedAbsmax!;
        for (int b = 0; b < BlockCount; b++)
            dest[b] = map[q[b]] * nested[b / NestedBlockSize] + NestedOffset;
    }

    /// <summary>
    /// Dequantizes to a new [Shape] tensor of <paramref name="dtype"/> (BFloat16 or Float32).
    /// w_i = code[nibble_i] · absmax_{i/64} in fp32, then rounded to nearest even for bf16.
    /// The result belongs to the caller (and to the caller's dispose scope, if any).
    /// Note: on this VM first-touching a fresh 32 MB tensor costs ~10× the decoding itself; use
    /// <see cref="DequantizeInto"/> with a reused buffer on hot paths.
    /// </summary>
    /// <exception cref="ArgumentException">dtype is neither BFloat16 nor Float32.</exception>
    public Tensor Dequantize(ScalarType dtype = ScalarType.BFloat16)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try { return DequantizeUntimed(dtype); }
        finally { Nf4DequantClock.Add(start); }
    }

    private Tensor DequantizeUntimed(ScalarType dtype)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckOutputDType(dtype);
        if (Packed.device_type != DeviceType.CPU) return DequantizeWithTensorOps(dtype);
        var output = empty(_shape, dtype);
        try
        {
            Decode(output);
            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Dequantizes into an existing contiguous CPU tensor of BFloat16 or Float32 with
    /// <see cref="ElementCount"/> elements (any shape), overwriting it in place without touching
    /// autograd version counters: never pass a tensor autograd has saved.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong dtype, element count, device or layout.</exception>
    public void DequantizeInto(Tensor destination)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        CheckDestination(destination);
        Decode(destination);
        Nf4DequantClock.Add(start);
    }

    private void CheckDestination(Tensor destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(destination);
        CheckOutputDType(destination.dtype);
        if (Packed.device_type != DeviceType.CPU)
            throw new InvalidOperationException($"NF4 weight on {Packed.device}: DequantizeInto decodes CPU weights only; use Dequantize.");
        if (destination.numel() != ElementCount || destination.device_type != DeviceType.CPU || !destination.is_contiguous())
            throw new ArgumentException(
                $"NF4 dequantization target must be a contiguous CPU tensor of {ElementCount} elements, got [{string.Join(", ", destination.shape)}] on {destination.device_type}.",
                nameof(destination));
    }

    /// <summary>
    /// Dequantizes with tensor operations on the weight's own device: the path for CUDA weights. The same
    /// arithmetic as the CPU kernel, step by step in fp32 (absmax = DYN[q8]·absmax2 + offset, then
    /// code[nibble]·absmax, then round to nearest even for bf16), so on the CPU both agree bitwise.
    /// Transient memory: about 12 bytes per weight (int64 byte indices, fp32 values), freed before returning.
    /// </summary>
    /// <exception cref="ArgumentException">dtype is neither BFloat16 nor Float32.</exception>
    public Tensor DequantizeWithTensorOps(ScalarType dtype = ScalarType.BFloat16)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckOutputDType(dtype);
        long blocks = BlockCount, n = ElementCount, padded = blocks * Nf4Code.BlockSize;
        using var scope = NewDisposeScope();
        var device = Packed.device;
        Tensor absmax;                                                                    // [blocks] fp32
        if (DoubleQuantized)
        {
            // Owned scalars (this runs per forward per layer on CUDA): a temporary could be freed mid-call, see Scalars.
            using Scalar blockCount = blocks, groupSize = NestedBlockSize, offset = NestedOffset;
            var nestedIndex = arange(blockCount, dtype: ScalarType.Int64, device: device).div(groupSize, rounding_mode: RoundingMode.floor);
            var decoded = NestedQuantMap!.index_select(0, QuantizedAbsmax!.to(ScalarType.Int64));          // DYN[q8_b]
            absmax = decoded.mul(NestedAbsmax!.index_select(0, nestedIndex)).add(offset, Scalars.One);
        }
        else
        {
            absmax = Absmax!;
        }
        // Each byte holds two codes, high nibble first: a [256, 2] table of (code[hi], code[lo]) decodes a byte in one lookup.
        var values = PairTable().index_select(0, Packed.to(ScalarType.Int64)).view(-1);        // [2·ceil(n/2)] fp32
        values = values.narrow(0, 0, n);
        if (padded != n) values = cat([values, zeros(padded - n, dtype: ScalarType.Float32, device: device)]);
        var weights = values.view(blocks, Nf4Code.BlockSize).mul(absmax.unsqueeze(1))            // [blocks, 64] fp32
            .view(-1).narrow(0, 0, n).to(dtype).reshape(_shape);
        return weights.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// [256, 2] fp32 on the weight's device: (code[hi], code[lo]) for every byte value. Built once per tensor, because the
    /// tensor-op dequantization runs for every forward of every layer.
    /// </summary>
    private Tensor PairTable()
    {
        if (_pairTable is not null) return _pairTable;
        using var scope = NewDisposeScope();
        using Scalar byteCount = 256, nibbleBase = 16;
        var byteValues = arange(byteCount, dtype: ScalarType.Int64, device: Packed.device);
        var table = stack([QuantMap.index_select(0, byteValues.div(nibbleBase, rounding_mode: RoundingMode.floor)),
                           QuantMap.index_select(0, byteValues.remainder(nibbleBase))], 1);          // [256, 2]
        return _pairTable = table.DetachFromDisposeScope();
    }

    private static void CheckOutputDType(ScalarType dtype)
    {
        if (dtype != ScalarType.BFloat16 && dtype != ScalarType.Float32)
            throw new ArgumentException($"NF4 dequantization supports BFloat16 or Float32 output, not {dtype}.", nameof(dtype));
    }

    /// <summary>
    /// <see cref="DequantizeInto(Tensor)"/> with a chosen instruction set (tests and benchmarks compare them; all give the same bits).
    /// </summary>
    /// <exception cref="ArgumentException">As <see cref="DequantizeInto(Tensor)"/>.</exception>
    /// <exception cref="PlatformNotSupportedException">The CPU lacks the path's instructions.</exception>
    public void DequantizeInto(Tensor destination, Nf4DecodePath path)
    {
        CheckDestination(destination);
        Decode(destination, path);
    }

    private void Decode(Tensor output, Nf4DecodePath? path = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        unsafe
        {
            // The kernels decode the absmax per chunk from these parts (no separate pass, no transient array).
            fixed (float* map = _nestedMap, nested = _nestedAbsmax)
            {
                var absmax = DoubleQuantized
                    ? Nf4AbsmaxSource.Double((byte*)Nf4Kernels.Address(QuantizedAbsmax!), map, nested, NestedOffset)
                    : Nf4AbsmaxSource.Plain((float*)Nf4Kernels.Address(Absmax!));
                if (output.dtype == ScalarType.BFloat16)
                    Nf4Kernels.DequantizeBf16(Nf4Kernels.Address(Packed), ElementCount, absmax, _code, Nf4Kernels.Address(output), path ?? Nf4DecodePaths.Best);
                else
                    Nf4Kernels.DequantizeF32(Nf4Kernels.Address(Packed), ElementCount, absmax, _code, Nf4Kernels.Address(output));
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"Nf4Tensor[{string.Join(", ", _shape)}]{(DoubleQuantized ? " +DQ" : "")}, {ByteSize} bytes";

    /// <summary>Frees all stored tensors.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Packed.Dispose();
        Absmax?.Dispose();
        QuantizedAbsmax?.Dispose();
        NestedAbsmax?.Dispose();
        QuantMap.Dispose();
        NestedQuantMap?.Dispose();
        _pairTable?.Dispose();
    }
}
