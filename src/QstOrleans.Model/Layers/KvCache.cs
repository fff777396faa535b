using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>
/// One attention layer's key/value cache for incremental decoding: the post-RoPE keys and the values of
/// every position seen so far, [B, n_kv, T_past, D] in the layer's compute dtype (before the GQA repeat,
/// so a 70B cache holds n_kv, not n_h, heads).
/// </summary>
/// <remarks>
/// <para>Storage grows by doubling and new positions are copied in place, so a decoding step copies
/// only its own T_new positions instead of re-concatenating the whole past.</para>
/// <para>The cache owns its storage (outside every dispose scope); dispose it when generation ends.
/// <see cref="Append"/> throws <see cref="ArgumentException"/> when the batch, head count, head dim or
/// dtype differs from what the cache already holds.</para>
/// </remarks>
public sealed class KvCache : IDisposable
{
    Tensor? _keys, _values;   // [B, n_kv, capacity, D]

    /// <param name="initialCapacity">Positions to allocate on the first append (e.g. prompt + max new tokens).</param>
    public KvCache(long initialCapacity = 0) => InitialCapacity = initialCapacity;

    public long InitialCapacity { get; }
    /// <summary>T_past: the number of cached positions.</summary>
    public long Length { get; private set; }
    /// <summary>Allocated positions (≥ <see cref="Length"/>).</summary>
    public long Capacity => _keys?.shape[2] ?? 0;

    /// <summary>
    /// Writes the new positions after the cached ones and returns views over all of them.
    /// </summary>
    /// <param name="keys">[B, n_kv, T_new, D] post-RoPE keys of the new positions.</param>
    /// <param name="values">[B, n_kv, T_new, D] values of the new positions.</param>
    /// <returns>Views [B, n_kv, T_past + T_new, D] into the cache (valid until the next append), created in the caller's scope.</returns>
    public (Tensor Keys, Tensor Values) Append(Tensor keys, Tensor values)
    {
        long b = keys.shape[0], h = keys.shape[1], t = keys.shape[2], d = keys.shape[3];
        if (_keys is not null && (b != _keys.shape[0] || h != _keys.shape[1] || d != _keys.shape[3] || keys.dtype != _keys.dtype))
            throw new ArgumentException(
                $"KV cache holds [{_keys.shape[0]}, {_keys.shape[1]}, *, {_keys.shape[3]}] {_keys.dtype}, cannot append [{b}, {h}, {t}, {d}] {keys.dtype}");
        if (!values.shape.SequenceEqual(keys.shape))
            throw new ArgumentException($"KV cache: values [{string.Join(", ", values.shape)}] and keys [{string.Join(", ", keys.shape)}] differ");
        if (Length + t > Capacity) Grow(Math.Max(Math.Max(InitialCapacity, 2 * Capacity), Length + t), keys);
        using (var slotK = _keys!.narrow(2, Length, t)) slotK.copy_(keys);
        using (var slotV = _values!.narrow(2, Length, t)) slotV.copy_(values);
        Length += t;
        return (_keys.narrow(2, 0, Length), _values.narrow(2, 0, Length));
    }

    /// <summary>Forgets every position (keeps the storage), e.g. to start a new conversation.</summary>
    public void Clear() => Length = 0;

    void Grow(long capacity, Tensor like)
    {
        long b = like.shape[0], h = like.shape[1], d = like.shape[3];
        var keys = zeros([b, h, capacity, d], like.dtype, like.device).DetachFromDisposeScope();
        var values = zeros([b, h, capacity, d], like.dtype, like.device).DetachFromDisposeScope();
        if (_keys is not null && Length > 0)
        {
            using var oldK = _keys.narrow(2, 0, Length);
            using var oldV = _values!.narrow(2, 0, Length);
            using var newK = keys.narrow(2, 0, Length);
            using var newV = values.narrow(2, 0, Length);
            newK.copy_(oldK);
            newV.copy_(oldV);
        }
        _keys?.Dispose();
        _values?.Dispose();
        _keys = keys;
        _values = values;
    }

    public void Dispose()
    {
        _keys?.Dispose();
        _values?.Dispose();
        _keys = _values = null;
        Length = 0;
    }
}
