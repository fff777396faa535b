using System.Text.Json;
using TorchSharp;

namespace QstOrleans.Model.SafeTensors;

/// <summary>
/// A Hugging Face model directory: either a single <c>model.safetensors</c> or a
/// <c>model.safetensors.index.json</c> plus the shards it names (the index wins when both exist).
/// Shards are opened (header parsed and memory-mapped) only when one of their tensors is first
/// asked for, so a backbone stage touches only the shards holding its layers. Thread-safe.
/// </summary>
/// <remarks>
/// Throws <see cref="SafeTensorsFormatException"/> for: a directory without either file, an index
/// that is not JSON or lacks an object <c>weight_map</c> of strings, a shard name that leaves the
/// directory, a shard file the index names but the directory lacks (at <see cref="Open"/>), a shard
/// that lacks a tensor the index assigns to it, an unknown tensor name, and every
/// <see cref="SafeTensorsFile"/> header error.
/// </remarks>
public sealed class CheckpointReader : IDisposable
{
    /// <summary>Single-file checkpoint name.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>Shard index name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, string> _fileOf; // tensor name -> shard path
    private readonly Dictionary<string, SafeTensorsFile> _open = new(StringComparer.Ordinal);
    private readonly object _lock = new();
    private bool _disposed;

    private CheckpointReader(string directory, string? indexPath, Dictionary<string, string> fileOf, long? totalSize)
    {
        Directory = directory;
        IndexPath = indexPath;
        _fileOf = fileOf;
        TotalSize = totalSize;
        TensorNames = _fileOf.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        ShardFiles = _fileOf.Values.Distinct().OrderBy(k => k, StringComparer.Ordinal).ToArray();
    }

    /// <summary>The checkpoint directory (full path).</summary>
    public string Directory { get; }

    /// <summary>The index file, or null for a single-file checkpoint.</summary>
    public string? IndexPath { get; }

    /// <summary><c>metadata.total_size</c> from the index, when present and numeric.</summary>
    public long? TotalSize { get; }

    /// <summary>All tensor names, ordinal order.</summary>
    public IReadOnlyCollection<string> TensorNames { get; }

    /// <summary>Full paths of the shard files (one for a single-file checkpoint).</summary>
    public IReadOnlyCollection<string> ShardFiles { get; }

    /// <summary>
    /// Opens a checkpoint directory, or a path to a <c>.safetensors</c> file or an index file directly.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">See the class remarks.</exception>
    public static CheckpointReader Open(string directory)
    {
        string full = Path.GetFullPath(directory);
        if (File.Exists(full))
        {
            return full.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
                ? OpenIndex(Path.GetDirectoryName(full)!, full)
                : OpenSingle(Path.GetDirectoryName(full)!, full);
        }
        if (!System.IO.Directory.Exists(full))
            throw new SafeTensorsFormatException(full, null, "checkpoint directory does not exist");
        string index = Path.Combine(full, IndexFileName);
        if (File.Exists(index)) return OpenIndex(full, index);
        string single = Path.Combine(full, SingleFileName);
        if (File.Exists(single)) return OpenSingle(full, single);
        throw new SafeTensorsFormatException(full, null, $"directory holds neither {SingleFileName} nor {IndexFileName}");
    }

    private static CheckpointReader OpenSingle(string dir, string file)
    {
        var sf = SafeTensorsFile.Open(file);
        var fileOf = sf.Tensors.Keys.ToDictionary(k => k, _ => sf.FilePath, StringComparer.Ordinal);
        var reader = new CheckpointReader(dir, null, fileOf, null);
        reader._open.Add(sf.FilePath, sf);
        return reader;
    }

    private static CheckpointReader OpenIndex(string dir, string indexPath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(indexPath, null, $"index is not valid JSON: {e.Message}", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException(indexPath, null, $"index must be a JSON object, found {root.ValueKind}");
            if (!root.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException(indexPath, null, "index lacks an object \"weight_map\"");

            long? totalSize = null;
            if (root.TryGetProperty("metadata", out var meta) && meta.ValueKind == JsonValueKind.Object
                && meta.TryGetProperty("total_size", out var ts) && ts.ValueKind == JsonValueKind.Number
                && ts.TryGetInt64(out long total))
                totalSize = total;

            var fileOf = new Dictionary<string, string>(StringComparer.Ordinal);
            var checkedFiles = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new SafeTensorsFormatException(indexPath, p.Name, $"weight_map value must be a file name, found {p.Value.ValueKind}");
                string shard = p.Value.GetString()!;
                // A shard must be a plain file name in the checkpoint directory, never a path elsewhere.
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new SafeTensorsFormatException(indexPath, p.Name, $"shard '{shard}' is not a plain file name");
                string shardPath = Path.Combine(dir, shard);
                if (checkedFiles.Add(shardPath) && !File.Exists(shardPath))
                    throw new SafeTensorsFormatException(indexPath, p.Name, $"shard file '{shard}' named by the index does not exist");
                if (!fileOf.TryAdd(p.Name, shardPath))
                    throw new SafeTensorsFormatException(indexPath, p.Name, "tensor appears twice in weight_map");
            }
            return new CheckpointReader(dir, indexPath, fileOf, totalSize);
        }
    }

    /// <summary>Whether the checkpoint holds a tensor of this name.</summary>
    public bool Contains(string name) => _fileOf.ContainsKey(name);

    /// <summary>Full path of the shard holding <paramref name="name"/>.</summary>
    /// <exception cref="SafeTensorsFormatException">Unknown tensor.</exception>
    public string FileOf(string name) =>
        _fileOf.TryGetValue(name, out var f)
            ? f
            : throw new SafeTensorsFormatException(IndexPath ?? ShardFiles.First(), name,
                $"tensor not found (checkpoint holds {_fileOf.Count} tensors)");

    /// <summary>The header entry of <paramref name="name"/> (opens its shard).</summary>
    public SafeTensorInfo Info(string name) => ShardOf(name).Info(name);

    /// <summary>Reads one tensor (see <see cref="SafeTensorsFile.ReadTensor"/>).</summary>
    public torch.Tensor ReadTensor(string name) => ShardOf(name).ReadTensor(name);

    /// <summary>Zero-copy access to one tensor's bytes in its memory-mapped shard; see <see cref="SafeTensorsFile.WithMappedBytes{T}"/>.</summary>
    public T WithMappedBytes<T>(string name, Func<IntPtr, long, T> use) => ShardOf(name).WithMappedBytes(name, use);

    /// <summary>The opened shard holding <paramref name="name"/>, checked to really contain it.</summary>
    public SafeTensorsFile ShardOf(string name)
    {
        string path = FileOf(name);
        SafeTensorsFile file;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_open.TryGetValue(path, out file!))
            {
                file = SafeTensorsFile.Open(path);
                _open.Add(path, file);
            }
        }
        if (!file.Contains(name))
            throw new SafeTensorsFormatException(path, name,
                $"tensor is assigned to this shard by {Path.GetFileName(IndexPath)} but the shard lacks it");
        return file;
    }

    /// <summary>Shard files opened so far (for tests and diagnostics).</summary>
    public IReadOnlyCollection<string> OpenedShards
    {
        get { lock (_lock) return _open.Keys.ToArray(); }
    }

    /// <summary>Unmaps every opened shard. Tensors already read stay valid.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var f in _open.Values) f.Dispose();
            _open.Clear();
        }
    }
}
