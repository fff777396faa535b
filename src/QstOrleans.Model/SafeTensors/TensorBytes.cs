using TorchSharp;

namespace QstOrleans.Model.SafeTensors;

/// <summary>
/// Raw byte copies between TorchSharp storage and memory/streams. <see cref="torch.Tensor.bytes"/>
/// is an int-sized span, so tensors past <see cref="ChunkBytes"/> are copied through
/// contiguous 1-D views of at most that many bytes.
/// </summary>
internal static class TensorBytes
{
    /// <summary>Largest span handed out at once; settable so tests can exercise the chunked path.</summary>
    internal static long ChunkBytes = 1L << 30;

    /// <summary>Calls <paramref name="visit"/>(chunk, byteOffset) over the storage of a contiguous CPU tensor.</summary>
    public static void ForEachChunk(torch.Tensor contiguousCpu, SpanAction visit)
    {
        long elemSize = contiguousCpu.ElementSize;
        long total = contiguousCpu.NumberOfElements * elemSize;
        if (total == 0) return;
        if (total <= ChunkBytes)
        {
            visit(contiguousCpu.bytes, 0);
            return;
        }
        long perChunk = Math.Max(1, ChunkBytes / elemSize);
        using var scope = torch.NewDisposeScope();
        var flat = contiguousCpu.reshape(-1); // a view: same storage, [numel]
        for (long start = 0; start < contiguousCpu.NumberOfElements; start += perChunk)
        {
            long count = Math.Min(perChunk, contiguousCpu.NumberOfElements - start);
            using var part = flat.narrow(0, start, count);
            visit(part.bytes, start * elemSize);
        }
    }

    public delegate void SpanAction(Span<byte> chunk, long byteOffset);

    /// <summary>Copies <paramref name="length"/> bytes at <paramref name="source"/> into a fresh contiguous tensor.</summary>
    public static unsafe void CopyIn(byte* source, long length, torch.Tensor destination)
    {
        long expected = destination.NumberOfElements * destination.ElementSize;
        if (expected != length)
            throw new ArgumentException($"tensor holds {expected} bytes, source has {length}");
        ForEachChunk(destination, (chunk, offset) =>
            new ReadOnlySpan<byte>(source + offset, chunk.Length).CopyTo(chunk));
    }

    /// <summary>Runs <paramref name="use"/> on a detached, contiguous CPU version of <paramref name="tensor"/>.</summary>
    public static void WithContiguousCpu(torch.Tensor tensor, Action<torch.Tensor> use)
    {
        // The scope frees only what cpu()/contiguous() create here, never the caller's tensor.
        using var scope = torch.NewDisposeScope();
        var t = tensor.detach();
        if (t.device_type != DeviceType.CPU) t = t.cpu();
        t = t.contiguous();
        use(t);
    }

    /// <summary>Writes the raw little-endian bytes of any tensor to <paramref name="stream"/>.</summary>
    public static void WriteTo(torch.Tensor tensor, Stream stream) =>
        WithContiguousCpu(tensor, t => ForEachChunk(t, (chunk, _) => stream.Write(chunk)));

    /// <summary>Copies the raw bytes of any tensor into a new array.</summary>
    public static byte[] ToArray(torch.Tensor tensor)
    {
        long total = tensor.NumberOfElements * tensor.ElementSize;
        if (total > Array.MaxLength)
            throw new ArgumentException($"tensor of {total} bytes does not fit a byte[]", nameof(tensor));
        var result = new byte[total];
        WithContiguousCpu(tensor, t => ForEachChunk(t, (chunk, offset) => chunk.CopyTo(result.AsSpan((int)offset))));
        return result;
    }
}
