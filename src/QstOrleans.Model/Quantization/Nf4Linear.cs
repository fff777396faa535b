using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// A frozen linear layer whose weight [out, in] is stored as NF4 (bitsandbytes <c>Linear4bit</c> semantics, spec §9.5).
/// Features:
/// <list type="bullet">
/// <item>forward: dequantizes the whole weight to the input's dtype (BFloat16 or Float32, as
/// Linear4bit adopts the input dtype), then <c>F.linear(x, W, b)</c>; the transient weight is freed
/// right after (or, with <see cref="ReuseScratch"/> and no autograd graph, decoded into a shared
/// warm buffer per shape: fresh 32 MB tensors cost ~10× the decoding in page faults here) unless
/// <see cref="CacheDequantized"/> is set.</item>
/// <item><see cref="CacheDequantized"/>: keep the dequantized weight (per dtype) after the first call,
/// trading 2–4 bytes/param of memory for skipping the dequantization (the CPU hot spot).</item>
/// <item>No trainable parameters and no registered buffers: <c>parameters()</c> is empty. The
/// weight and bias live in plain fields; <c>to(device)</c> moves them (the module overrides the move),
/// and on a non-CPU device the forward dequantizes with tensor operations on that device.</item>
/// <item>Owns the <see cref="Nf4Tensor"/> (disposing the module frees it); keeps a detached alias
/// of the bias (shared storage), so the caller's own bias handle stays the caller's.</item>
/// </list>
/// Throws <see cref="ArgumentException"/> when the weight is not 2-D, the bias length differs from
/// out, the input dtype is not BFloat16/Float32, or the input's last dimension differs from in.
/// </summary>
public sealed class Nf4Linear : nn.Module<Tensor, Tensor>
{
    private Tensor? _bias;            // [out], frozen
    private Tensor? _cached;          // dequantized [out, in] when CacheDequantized

    /// <summary>Wraps an NF4 weight [out, in] (owned from now on) and an optional bias [out] (aliased).</summary>
    /// <exception cref="ArgumentException">Weight not 2-D or bias length mismatch.</exception>
    public Nf4Linear(Nf4Tensor weight, Tensor? bias = null, bool cacheDequantized = false, string name = nameof(Nf4Linear))
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var shape = weight.Shape;
        if (shape.Length != 2)
            throw new ArgumentException($"{name}: NF4 linear weight must be 2-D [out, in], got [{string.Join(", ", shape)}].", nameof(weight));
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != shape[0]))
            throw new ArgumentException($"{name}: bias must be [{shape[0]}], got [{string.Join(", ", bias.shape)}].", nameof(bias));

        Weight = weight;
        OutFeatures = shape[0];
        InFeatures = shape[1];
        CacheDequantized = cacheDequantized;
        if (bias is not null)
            _bias = bias.detach().requires_grad_(false).DetachFromDisposeScope();
    }

    /// <summary>The quantized weight.</summary>
    public Nf4Tensor Weight { get; private set; }

    /// <summary>The frozen bias [out], if any.</summary>
    public Tensor? Bias => _bias;

    /// <summary>Input width.</summary>
    public long InFeatures { get; }

    /// <summary>Output width.</summary>
    public long OutFeatures { get; }

    /// <summary>Keep the dequantized weight between calls. Turning it off frees the cache.</summary>
    public bool CacheDequantized
    {
        get => _cacheDequantized;
        set
        {
            _cacheDequantized = value;
            if (!value) DropCache();
        }
    }
    private bool _cacheDequantized;

    /// <summary>
    /// Without the cache, decode into a shared reusable buffer per (shape, dtype) instead of a fresh
    /// tensor each call (default true). Only used when no autograd graph is recorded through the
    /// input (grad disabled or input not requiring grad), because autograd would save the buffer.
    /// </summary>
    public bool ReuseScratch { get; set; } = true;

    /// <summary>
    /// When the input needs a gradient (QLoRA): true keeps the dequantized weight from forward to backward (autograd over
    /// <c>F.linear</c>: 2 B/weight alive until backward, no second decode); false (default) keeps nothing and
    /// dequantizes again in backward (<see cref="Nf4RedequantizingLinear"/>, as bitsandbytes). Same gradients either way.
    /// </summary>
    public bool KeepDequantizedForBackward { get; set; }

    /// <summary>Frees the idle shared dequantization buffers of all Nf4Linear layers.</summary>
    public static void ReleaseScratchBuffers() => DequantScratchPool.Clear();

    /// <summary>Frees the cached dequantized weight, if any.</summary>
    public void DropCache()
    {
        _cached?.Dispose();
        _cached = null;
    }

    /// <summary>y = x · Wᵀ + b with W dequantized to x's dtype. x: [..., in] → [..., out].</summary>
    /// <exception cref="ArgumentException">Input dtype not BFloat16/Float32 or last dim ≠ in.</exception>
    public override Tensor forward(Tensor input)
    {
        var dtype = input.dtype;
        if (dtype != ScalarType.BFloat16 && dtype != ScalarType.Float32)
            throw new ArgumentException($"{GetName()}: input must be BFloat16 or Float32, got {dtype}.", nameof(input));
        if (input.dim() == 0 || input.shape[^1] != InFeatures)
            throw new ArgumentException($"{GetName()}: input last dimension must be {InFeatures}, got shape [{string.Join(", ", input.shape)}].", nameof(input));

        // The weight is frozen: no graph is needed for it (a graph through x still forms if x needs grad).
        Tensor weight;
        bool dispose = false, giveBack = false;
        if (_cached is not null && _cached.dtype == dtype)
        {
            weight = _cached;
        }
        else if (CacheDequantized)
        {
            DropCache();
            weight = _cached = Weight.Dequantize(dtype).DetachFromDisposeScope(); // [out, in]
        }
        else if (!KeepDequantizedForBackward && is_grad_enabled() && input.requires_grad)
        {
            // A graph through x: a node that dequantizes again in backward instead of saving the weight.
            return Nf4RedequantizingLinear.apply(input, this);                   // [..., out]
        }
        else if (Weight.Device.type != DeviceType.CPU)
        {
            weight = Weight.Dequantize(dtype); // [out, in] on the weight's device (tensor ops)
            dispose = true;
        }
        else if (ReuseScratch && !(is_grad_enabled() && input.requires_grad))
        {
            // No autograd graph can save the weight, so a shared warm buffer may be overwritten later.
            weight = DequantScratchPool.Rent(Weight.Shape, dtype); // [out, in]
            giveBack = true;
            try { Weight.DequantizeInto(weight); }
            catch { DequantScratchPool.Return(weight); throw; }
        }
        else
        {
            // Autograd may keep the weight for the input gradient: it must be a tensor nobody rewrites.
            weight = Weight.Dequantize(dtype); // [out, in]
            dispose = true;
        }

        Tensor? bias = null;
        bool biasTransient = false;
        if (_bias is not null)
        {
            biasTransient = _bias.dtype != dtype;
            bias = biasTransient ? _bias.to(dtype) : _bias;
        }

        try
        {
            return nn.functional.linear(input, weight, bias); // [..., out]
        }
        finally
        {
            if (dispose) weight.Dispose();
            if (giveBack) DequantScratchPool.Return(weight);
            if (biasTransient) bias!.Dispose();
        }
    }

    /// <summary>dx = dy·W for <see cref="Nf4RedequantizingLinear"/>'s backward, W dequantized again to dy's dtype.</summary>
    /// <param name="gradOutput">[..., out].</param>
    /// <returns>[..., in] in dy's dtype.</returns>
    internal Tensor InputGradient(Tensor gradOutput)
    {
        var dtype = gradOutput.dtype;
        if (_cached is not null && _cached.dtype == dtype) return gradOutput.matmul(_cached);
        if (Weight.Device.type != DeviceType.CPU || !ReuseScratch)
        {
            using var fresh = Weight.Dequantize(dtype);                        // [out, in]
            return gradOutput.matmul(fresh);
        }
        var weight = DequantScratchPool.Rent(Weight.Shape, dtype);             // [out, in]
        try
        {
            Weight.DequantizeInto(weight);
            return gradOutput.matmul(weight);
        }
        finally { DequantScratchPool.Return(weight); }
    }

    // Module.to(device) only moves registered tensors; the NF4 weight and bias are plain fields, moved here.
    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool nonBlocking)
    {
        MoveTo(new Device(deviceType, deviceIndex));
        return base._to(deviceType, deviceIndex, nonBlocking);
    }

    protected override nn.Module _to(Device device, ScalarType dtype, bool nonBlocking)
    {
        MoveTo(device);   // the NF4 codes keep their format; only the device changes
        return base._to(device, dtype, nonBlocking);
    }

    void MoveTo(Device device)
    {
        var current = Weight.Device;
        if (current.type == device.type && (device.type == DeviceType.CPU || current.index == device.index)) return;
        DropCache();
        var moved = Weight.To(device);
        Weight.Dispose();
        Weight = moved;
        if (_bias is not null)
        {
            var bias = _bias.to(device).DetachFromDisposeScope();
            _bias.Dispose();
            _bias = bias;
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DropCache();
            _bias?.Dispose();
            Weight.Dispose();
        }
        base.Dispose(disposing);
    }
}
