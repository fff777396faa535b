using TorchSharp;

namespace QstOrleans.Model.SafeTensors;

/// <summary>
/// Builds one .safetensors file. Tensors are added as TorchSharp tensors (any supported dtype, any
/// device or layout: made contiguous on the CPU and their bytes copied at <see cref="Add(string, torch.Tensor)"/>)
/// or as raw (dtype, shape, bytes). <see cref="Write"/> lays the tensors out back to back in
/// ordinal name order (deterministic output), writes the 8-byte length, the space-padded JSON
/// header (multiple of 8 bytes) and the data to a temp file in the target directory, and renames it
/// over the target only once complete, so a crash never leaves a half-written file under the final name.
/// </summary>
/// <remarks>
/// Throws <see cref="ArgumentException"/> for an empty, duplicate or reserved (<c>__metadata__</c>) name,
/// a negative dimension, or raw data whose length is not numel × element size;
/// <see cref="NotSupportedException"/> for a torch dtype without a safetensors dtype.
/// </remarks>
public sealed class SafeTensorsWriter
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Written as <c>__metadata__</c> (omitted when empty), keys sorted.</summary>
    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Names added so far.</summary>
    public IReadOnlyCollection<string> Names => _entries.Keys;

    /// <summary>Adds a copy of <paramref name="tensor"/>'s bytes; the tensor may be disposed afterwards.</summary>
    public void Add(string name, torch.Tensor tensor)
    {
        var dtype = SafeTensorDTypes.FromTorch(tensor.dtype);
        CheckName(name);
        _entries.Add(name, new Entry(dtype, tensor.shape, TensorBytes.ToArray(tensor), null));
    }

    /// <summary>Adds raw little-endian row-major bytes (kept by reference, not copied).</summary>
    public void Add(string name, SafeTensorDType dtype, long[] shape, byte[] data)
    {
        CheckName(name);
        long numel = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}': negative dimension in shape {SafeTensorInfo.FormatShape(shape)}", nameof(shape));
            numel = checked(numel * d);
        }
        long need = checked(numel * SafeTensorDTypes.ElementSize(dtype));
        if (data.LongLength != need)
            throw new ArgumentException(
                $"tensor '{name}': {data.LongLength} bytes given but {SafeTensorDTypes.ToName(dtype)} {SafeTensorInfo.FormatShape(shape)} needs {need}",
                nameof(data));
        _entries.Add(name, new Entry(dtype, (long[])shape.Clone(), data, null));
    }

    /// <summary>
    /// Adds a tensor by reference: its bytes are read only during <see cref="Write"/>, so it must stay
    /// alive until then. Used by <see cref="ShardedCheckpointWriter"/> to avoid a second copy of a model.
    /// </summary>
    internal void AddBorrowed(string name, torch.Tensor tensor)
    {
        var dtype = SafeTensorDTypes.FromTorch(tensor.dtype);
        CheckName(name);
        _entries.Add(name, new Entry(dtype, tensor.shape, null, tensor));
    }

    private void CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name == SafeTensorsHeader.MetadataKey)
            throw new ArgumentException($"'{name}' is reserved for the metadata map", nameof(name));
        if (_entries.ContainsKey(name))
            throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
    }

    /// <summary>Writes the file atomically (temp file + rename); creates the directory if needed.</summary>
    public void Write(string path)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);

        var ordered = _entries.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var infos = new List<SafeTensorInfo>(ordered.Count);
        long offset = 0;
        foreach (var (name, e) in ordered)
        {
            long bytes = checked(ElementCount(e.Shape) * SafeTensorDTypes.ElementSize(e.DType));
            infos.Add(new SafeTensorInfo(name, e.DType, e.Shape, offset, offset + bytes));
            offset += bytes;
        }
        var header = SafeTensorsHeader.Serialize(new Dictionary<string, string>(Metadata), infos);

        // Same directory, so the final rename is atomic on one file system.
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                fs.Write(header);
                foreach (var (_, e) in ordered)
                {
                    if (e.Data is not null) fs.Write(e.Data);
                    else TensorBytes.WriteTo(e.Borrowed!, fs);
                }
                if (fs.Position != header.Length + offset)
                    throw new InvalidOperationException($"{full}: wrote {fs.Position} bytes, expected {header.Length + offset}");
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { /* best effort; the original error matters */ }
            throw;
        }
    }

    private static long ElementCount(long[] shape)
    {
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        return n;
    }

    private sealed record Entry(SafeTensorDType DType, long[] Shape, byte[]? Data, torch.Tensor? Borrowed);
}
