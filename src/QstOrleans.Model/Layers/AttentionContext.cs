using QstOrleans.Model.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>
/// What every decoder layer of one micro-batch shares (spec §1.1: backbone and side layers use the
/// same additive mask and the same positions): the additive causal + padding mask and the position ids.
/// RoPE tables are cached per head dimension because backbone (D = H/n_h) and side (D = d/n_h) differ.
/// Owns its tensors; dispose it with the step scope.
/// </summary>
public sealed class AttentionContext : IDisposable
{
    /// <summary>The additive mask value of a key a query may not see (float.MinValue, as HF's eager path uses).</summary>
    static readonly Scalar MaskedOut = float.MinValue;

    /// <summary>[B, 1, T, T_past + T] fp32: 0 where attention is allowed, most negative finite float elsewhere.</summary>
    public Tensor Mask { get; }
    /// <summary>[B, T] int64 position ids (0..T-1 for right-padded batches; T_past.. for a cached step).</summary>
    public Tensor Positions { get; }
    public long BatchSize { get; }
    /// <summary>T: the number of query positions of this forward.</summary>
    public long SequenceLength { get; }
    /// <summary>T_past: positions already in the layers' KV caches (0 for a full-sequence forward).</summary>
    public long PastLength { get; private init; }

    readonly Dictionary<(int, double, RotaryKey), (Tensor Cos, Tensor Sin)> _rope = new();
    record struct RotaryKey(string? Type, double Factor);
    readonly Dictionary<ScalarType, Tensor> _masks = new();

    AttentionContext(Tensor mask, Tensor positions, long b, long t)
    {
        Mask = mask;
        Positions = positions;
        BatchSize = b;
        SequenceLength = t;
    }

    /// <param name="attentionMask">[B, T] int64, 1 for real tokens and 0 for padding. The context's tensors live on its device.</param>
    public static AttentionContext Create(Tensor attentionMask)
    {
        long b = attentionMask.shape[0], t = attentionMask.shape[1];
        var device = attentionMask.device;
        using var scope = NewDisposeScope();
        // causal[i, j] = j <= i
        var causal = ones(t, t, dtype: ScalarType.Bool, device: device).tril();          // [T, T]
        var keep = attentionMask.to(ScalarType.Bool).view(b, 1, 1, t);                  // [B, 1, 1, T]
        var allowed = causal.view(1, 1, t, t).logical_and(keep);                         // [B, 1, T, T]
        var mask = zeros(b, 1, t, t, dtype: ScalarType.Float32, device: device)
            .masked_fill(allowed.logical_not(), MaskedOut);
        using Scalar length = t;   // owned scalars only on hot paths: see Scalars
        var positions = arange(length, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(b, t).contiguous();
        // The context owns its tensors (disposed with it), so they leave every dispose scope.
        return new AttentionContext(mask.DetachFromDisposeScope(), positions.DetachFromDisposeScope(), b, t);
    }

    /// <summary>
    /// A decoding step over a KV cache (no padding): <paramref name="newLength"/> query positions
    /// p..p+T_new−1 with p = <paramref name="pastLength"/>, attending to all T_past + T_new keys up to
    /// their own position. With T_past = 0 the mask and positions equal <see cref="Create"/>'s for an all-ones mask.
    /// </summary>
    /// <param name="device">Where the mask and positions live (CPU when null).</param>
    public static AttentionContext ForCachedStep(long batchSize, long pastLength, long newLength, Device? device = null)
    {
        if (batchSize < 1 || pastLength < 0 || newLength < 1)
            throw new ArgumentException($"cached step needs B >= 1, T_past >= 0, T_new >= 1 (got {batchSize}, {pastLength}, {newLength})");
        long total = pastLength + newLength;
        using var scope = NewDisposeScope();
        // query i sits at absolute position p + i and may read key j when j <= p + i
        var allowed = ones(newLength, total, dtype: ScalarType.Bool, device: device).tril(pastLength);  // [T_new, T_total]
        var mask = zeros(newLength, total, dtype: ScalarType.Float32, device: device)
            .masked_fill(allowed.logical_not(), MaskedOut)
            .view(1, 1, newLength, total).expand(batchSize, 1, newLength, total).contiguous();
        using Scalar start = pastLength, stop = total;
        var positions = arange(start, stop, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(batchSize, newLength).contiguous();
        return new AttentionContext(mask.DetachFromDisposeScope(), positions.DetachFromDisposeScope(), batchSize, newLength)
        {
            PastLength = pastLength,
        };
    }

    /// <summary>
    /// <see cref="Mask"/> in another dtype (bf16 scores), computed once per context. Masked entries become the dtype's
    /// most negative finite value, not −∞ (float.MinValue would round to −∞ in bf16), so a fully masked row stays finite.
    /// </summary>
    public Tensor MaskIn(ScalarType dtype)
    {
        if (dtype == Mask.dtype) return Mask;
        if (!_masks.TryGetValue(dtype, out var mask))
        {
            using var scope = NewDisposeScope();
            using Scalar lowest = LowestFinite(dtype);
            mask = Mask.clamp_min(lowest).to(dtype).DetachFromDisposeScope();   // [B, 1, T, T_past + T]
            _masks[dtype] = mask;
        }
        return mask;
    }

    static double LowestFinite(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => -3.3895313892515355e38,   // −(2 − 2⁻⁷)·2¹²⁷
        ScalarType.Float16 => -65504.0,
        _ => float.MinValue,
    };

    /// <summary>cos/sin tables [B, 1, T, D] fp32 for a head dimension, computed once per context.</summary>
    public (Tensor Cos, Tensor Sin) Rope(int headDim, double theta, Config.RopeScaling? scaling)
    {
        var key = (headDim, theta, new RotaryKey(scaling?.Type, scaling?.Factor ?? 0));
        if (!_rope.TryGetValue(key, out var tables))
        {
            // Detached: a layer's per-call scope must not free tables the next layers reuse.
            var (cos, sin) = RotaryEmbedding.Tables(Positions, headDim, theta, scaling);
            tables = (cos.DetachFromDisposeScope(), sin.DetachFromDisposeScope());
            _rope[key] = tables;
        }
        return tables;
    }

    public void Dispose()
    {
        Mask.Dispose();
        Positions.Dispose();
        foreach (var (cos, sin) in _rope.Values)
        {
            cos.Dispose();
            sin.Dispose();
        }
        _rope.Clear();
        foreach (var mask in _masks.Values) mask.Dispose();
        _masks.Clear();
    }
}
