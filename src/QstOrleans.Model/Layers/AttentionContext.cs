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
    /// <summary>[B, 1, T, T] fp32: 0 where attention is allowed, most negative finite float elsewhere.</summary>
    public Tensor Mask { get; }
    /// <summary>[B, T] int64 position ids (0..T-1 for right-padded batches).</summary>
    public Tensor Positions { get; }
    public long BatchSize { get; }
    public long SequenceLength { get; }

    readonly Dictionary<(int, double, RotaryKey), (Tensor Cos, Tensor Sin)> _rope = new();
    record struct RotaryKey(string? Type, double Factor);

    AttentionContext(Tensor mask, Tensor positions, long b, long t)
    {
        Mask = mask;
        Positions = positions;
        BatchSize = b;
        SequenceLength = t;
    }

    /// <param name="attentionMask">[B, T] int64, 1 for real tokens and 0 for padding.</param>
    public static AttentionContext Create(Tensor attentionMask)
    {
        long b = attentionMask.shape[0], t = attentionMask.shape[1];
        using var scope = NewDisposeScope();
        // causal[i, j] = j <= i
        var causal = ones(t, t, dtype: ScalarType.Bool).tril();                          // [T, T]
        var keep = attentionMask.to(ScalarType.Bool).view(b, 1, 1, t);                  // [B, 1, 1, T]
        var allowed = causal.view(1, 1, t, t).logical_and(keep);                         // [B, 1, T, T]
        var mask = zeros(b, 1, t, t, dtype: ScalarType.Float32)
            .masked_fill(allowed.logical_not(), float.MinValue);
        var positions = arange(t, dtype: ScalarType.Int64).unsqueeze(0).expand(b, t).contiguous();
        // The context owns its tensors (disposed with it), so they leave every dispose scope.
        return new AttentionContext(mask.DetachFromDisposeScope(), positions.DetachFromDisposeScope(), b, t);
    }

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
    }
}
