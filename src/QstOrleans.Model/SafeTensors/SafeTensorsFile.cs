using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using TorchSharp;

namespace QstOrleans.Model.SafeTensors;

/// <summary>
/// One .safetensors file, memory-mapped read-only. <see cref="Open"/> reads and validates only the
/// header (length, JSON, dtypes, shapes, offsets inside the data buffer, no overlap, byte counts);
/// each read then copies exactly one tensor's bytes out of the mapping, so a shard's other tensors
/// are never touched. Concurrent reads are safe; reads after <see cref="Dispose"/> throw
/// <see cref="ObjectDisposedException"/>.
/// </summary>
/// <remarks>
/// Throws <see cref="SafeTensorsFormatException"/> (naming the file and, where relevant, the tensor) for a
/// missing file, a file shorter than 8 bytes, a header length past EOF or over 100 MB, invalid JSON or
/// JSON of the wrong shape, unknown dtypes, bad offsets, and unknown tensor names. Assumes a
/// little-endian host, as every platform .NET/libtorch runs on here is.
/// </remarks>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _data; // start of the data buffer inside the mapping
    private int _disposed;

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, long dataStart,
        Dictionary<string, string> metadata, Dictionary<string, SafeTensorInfo> tensors)
    {
        FilePath = path;
        _map = map;
        _view = view;
        Metadata = metadata;
        Tensors = tensors;
        byte* basePtr = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
        _data = basePtr + view.PointerOffset + dataStart;
    }

    /// <summary>Full path of the file.</summary>
    public string FilePath { get; }

    /// <summary>The <c>__metadata__</c> map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor entry by name (the metadata entry excluded).</summary>
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }

    /// <summary>Whether the file holds a tensor of this name.</summary>
    public bool Contains(string name) => Tensors.ContainsKey(name);

    /// <summary>Opens, validates the header of, and memory-maps <paramref name="path"/>.</summary>
    /// <exception cref="SafeTensorsFormatException">Missing file or any header problem.</exception>
    public static SafeTensorsFile Open(string path)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new SafeTensorsFormatException(full, null, "file does not exist");

        var fs = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            long fileLength = fs.Length;
            if (fileLength < 8)
                throw new SafeTensorsFormatException(full, null,
                    $"file is {fileLength} bytes, shorter than the 8-byte header length prefix");

            Span<byte> prefix = stackalloc byte[8];
            fs.ReadExactly(prefix);
            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLen > SafeTensorsHeader.MaxHeaderBytes)
                throw new SafeTensorsFormatException(full, null,
                    $"header length {headerLen} exceeds the {SafeTensorsHeader.MaxHeaderBytes}-byte limit");
            if ((long)headerLen > fileLength - 8)
                throw new SafeTensorsFormatException(full, null,
                    $"header length {headerLen} runs past the end of the {fileLength}-byte file (truncated?)");

            // Only the header is read; the data buffer stays on disk until a tensor is asked for.
            var header = new byte[headerLen];
            fs.ReadExactly(header);
            long dataStart = 8 + (long)headerLen;
            var (metadata, tensors) = SafeTensorsHeader.Parse(header, full, fileLength - dataStart);

            map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            return new SafeTensorsFile(full, map, view, dataStart, metadata, tensors);
        }
        catch
        {
            view?.Dispose();
            map?.Dispose();
            fs.Dispose();
            throw;
        }
    }

    /// <summary>The header entry of <paramref name="name"/>.</summary>
    /// <exception cref="SafeTensorsFormatException">No such tensor in this file.</exception>
    public SafeTensorInfo Info(string name) =>
        Tensors.TryGetValue(name, out var info)
            ? info
            : throw new SafeTensorsFormatException(FilePath, name, $"tensor not found (file holds {Tensors.Count} tensors)");

    /// <summary>
    /// Reads one tensor into a fresh contiguous CPU tensor of the file's dtype and shape that owns
    /// its memory (independent of this file). Created in the caller's current dispose scope, if any.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">No such tensor.</exception>
    public torch.Tensor ReadTensor(string name)
    {
        var info = Info(name);
        ThrowIfDisposed();
        var t = torch.empty(info.Shape, SafeTensorDTypes.ToTorch(info.DType));
        try
        {
            TensorBytes.CopyIn(_data + info.Begin, info.ByteLength, t);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>The raw little-endian bytes of one tensor.</summary>
    /// <exception cref="SafeTensorsFormatException">No such tensor.</exception>
    public byte[] ReadBytes(string name)
    {
        var info = Info(name);
        if (info.ByteLength > Array.MaxLength)
            throw new SafeTensorsFormatException(FilePath, name, $"{info.ByteLength} bytes do not fit a byte[]");
        var result = new byte[info.ByteLength];
        CopyBytes(name, result);
        return result;
    }

    /// <summary>Copies one tensor's raw bytes into <paramref name="destination"/>, whose length must equal the tensor's byte length.</summary>
    /// <exception cref="SafeTensorsFormatException">No such tensor.</exception>
    /// <exception cref="ArgumentException">Destination length differs.</exception>
    public void CopyBytes(string name, Span<byte> destination)
    {
        var info = Info(name);
        if (destination.Length != info.ByteLength)
            throw new ArgumentException(
                $"{FilePath}: tensor '{name}' has {info.ByteLength} bytes, destination has {destination.Length}",
                nameof(destination));
        ThrowIfDisposed();
        new ReadOnlySpan<byte>(_data + info.Begin, destination.Length).CopyTo(destination);
    }

    /// <summary>
    /// Calls <paramref name="use"/> with the address and byte length of one tensor's bytes inside the
    /// mapping, without copying (e.g. to quantize straight from the file: the pages are file cache,
    /// not process memory). The address is valid only during the call.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">No such tensor.</exception>
    public T WithMappedBytes<T>(string name, Func<IntPtr, long, T> use)
    {
        var info = Info(name);
        ThrowIfDisposed();
        return use((IntPtr)(_data + info.Begin), info.ByteLength);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Unmaps the file. Tensors already read stay valid.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
