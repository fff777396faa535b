using static TorchSharp.torch;

namespace QstOrleans.Grains.Transport;

/// <summary>Splits tap tensors into <see cref="TapChunk"/>s of bounded size, and groups chunks into messages.</summary>
public static class TapChunks
{
    /// <summary>The bytes of <paramref name="payload"/> cut into chunks of at most <paramref name="maxChunkBytes"/>
    /// (a payload that fits is sent as it is, without a copy).</summary>
    public static IEnumerable<TapChunk> Split(long sequence, int tapIndex, TensorPayload payload, int maxChunkBytes, int attempt = 0)
    {
        int count = Math.Max(1, (int)((payload.Data.LongLength + maxChunkBytes - 1) / maxChunkBytes));
        for (int c = 0; c < count; c++)
        {
            int start = c * maxChunkBytes;
            int length = Math.Min(maxChunkBytes, payload.Data.Length - start);
            var data = count == 1 ? payload.Data : payload.Data.AsSpan(start, length).ToArray();
            yield return new TapChunk(sequence, tapIndex, c, count, payload.Shape, payload.DType, data, attempt);
        }
    }

    /// <summary>Groups chunks into messages whose data stays under <paramref name="maxMessageBytes"/>.</summary>
    public static IEnumerable<IReadOnlyList<TapChunk>> Batch(IEnumerable<TapChunk> chunks, long maxMessageBytes)
    {
        var group = new List<TapChunk>();
        long bytes = 0;
        foreach (var chunk in chunks)
        {
            if (group.Count > 0 && bytes + chunk.Data.Length > maxMessageBytes)
            {
                yield return group;
                group = [];
                bytes = 0;
            }
            group.Add(chunk);
            bytes += chunk.Data.Length;
        }
        if (group.Count > 0) yield return group;
    }
}

/// <summary>Reassembles one micro-batch's taps from chunks arriving in any order.</summary>
public sealed class TapAssembly(int tapCount)
{
    readonly Dictionary<int, byte[]?[]> _parts = new();
    readonly Dictionary<int, (long[] Shape, WireDType DType)> _meta = new();
    int _completeTaps;

    /// <summary>True once every tap 0..N and ĥ (index −1) is complete.</summary>
    public bool IsComplete => _completeTaps == tapCount + 1;

    public void Add(TapChunk chunk)
    {
        if (!_parts.TryGetValue(chunk.TapIndex, out var parts))
        {
            parts = new byte[]?[chunk.ChunkCount];
            _parts[chunk.TapIndex] = parts;
            _meta[chunk.TapIndex] = (chunk.Shape, chunk.DType);
        }
        if (parts[chunk.ChunkIndex] is not null) return;   // duplicate delivery: already have it
        parts[chunk.ChunkIndex] = chunk.Data;
        if (parts.All(p => p is not null)) _completeTaps++;
    }

    /// <summary>The tensor of tap <paramref name="index"/> (−1 = ĥ); created in the caller's dispose scope.</summary>
    public Tensor Tensor(int index)
    {
        var parts = _parts[index];
        var (shape, dtype) = _meta[index];
        if (parts.Length == 1) return TensorPayloads.ToTensor(parts[0]!, shape, dtype);
        var all = new byte[parts.Sum(p => (long)p!.Length)];
        long offset = 0;
        foreach (var p in parts)
        {
            p!.CopyTo(all, offset);
            offset += p.Length;
        }
        return TensorPayloads.ToTensor(all, shape, dtype);
    }
}
