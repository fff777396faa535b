using System.Text.Encodings.Web;
using System.Text.Json;
using TorchSharp;

namespace QstOrleans.Model.SafeTensors;

/// <summary>
/// Writes a Hugging Face style checkpoint directory. Tensors are sorted by name (ordinal) and packed
/// greedily into shards of at most <c>maxShardBytes</c> data bytes (a tensor larger than that gets a
/// shard of its own). One shard ⇒ <c>model.safetensors</c> (a stale index is removed so readers do
/// not prefer it); several ⇒ <c>model-0000k-of-0000n.safetensors</c> plus
/// <c>model.safetensors.index.json</c> (<c>metadata.total_size</c> = sum of tensor bytes), written last.
/// Every file is written atomically (temp + rename). <c>metadata</c> goes into every shard's <c>__metadata__</c>.
/// </summary>
/// <remarks>
/// Throws <see cref="ArgumentOutOfRangeException"/> for <c>maxShardBytes</c> &lt;= 0,
/// <see cref="ArgumentException"/> for duplicate or invalid names, <see cref="NotSupportedException"/>
/// for unsupported torch dtypes. Tensors are read during the call only (no extra copy of the model).
/// </remarks>
public static class ShardedCheckpointWriter
{
    /// <summary>Writes the checkpoint; returns the full paths of the files written (shards, then index).</summary>
    public static IReadOnlyList<string> Write(string directory, IEnumerable<(string Name, torch.Tensor Tensor)> tensors,
        long maxShardBytes, IDictionary<string, string>? metadata = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        var all = tensors.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in all)
            if (!seen.Add(name)) throw new ArgumentException($"tensor '{name}' given twice", nameof(tensors));
        all.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));

        var shards = Plan(all.Select(t => t.Tensor.NumberOfElements * t.Tensor.ElementSize).ToList(), maxShardBytes);
        string dir = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(dir);
        string indexPath = Path.Combine(dir, CheckpointReader.IndexFileName);
        var written = new List<string>();

        if (shards.Count <= 1)
        {
            string path = Path.Combine(dir, CheckpointReader.SingleFileName);
            WriteShard(path, all, metadata);
            File.Delete(indexPath); // no-op when absent
            written.Add(path);
            return written;
        }

        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long total = 0;
        for (int k = 0; k < shards.Count; k++)
        {
            string file = $"model-{k + 1:D5}-of-{shards.Count:D5}.safetensors";
            var part = all.GetRange(shards[k].Start, shards[k].Count);
            string path = Path.Combine(dir, file);
            WriteShard(path, part, metadata);
            written.Add(path);
            foreach (var (name, t) in part)
            {
                weightMap[name] = file;
                total += t.NumberOfElements * t.ElementSize;
            }
        }
        WriteIndex(indexPath, total, weightMap);
        written.Add(indexPath);
        return written;
    }

    /// <summary>Greedy split of sizes (in order) into runs of at most <paramref name="max"/> bytes each.</summary>
    internal static List<(int Start, int Count)> Plan(IReadOnlyList<long> sizes, long max)
    {
        var result = new List<(int Start, int Count)>();
        int start = 0;
        long current = 0;
        for (int i = 0; i < sizes.Count; i++)
        {
            if (i > start && current + sizes[i] > max)
            {
                result.Add((start, i - start));
                start = i;
                current = 0;
            }
            current += sizes[i];
        }
        if (sizes.Count > 0) result.Add((start, sizes.Count - start));
        return result;
    }

    private static void WriteShard(string path, IEnumerable<(string Name, torch.Tensor Tensor)> part,
        IDictionary<string, string>? metadata)
    {
        var w = new SafeTensorsWriter();
        if (metadata is not null)
            foreach (var kv in metadata) w.Metadata[kv.Key] = kv.Value;
        foreach (var (name, t) in part) w.AddBorrowed(name, t);
        w.Write(path);
    }

    private static void WriteIndex(string path, long totalSize, SortedDictionary<string, string> weightMap)
    {
        string temp = path + $".{Guid.NewGuid():N}.tmp";
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            using (var w = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                w.WriteStartObject();
                w.WriteStartObject("metadata");
                w.WriteNumber("total_size", totalSize);
                w.WriteEndObject();
                w.WriteStartObject("weight_map");
                foreach (var kv in weightMap) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { /* best effort */ }
            throw;
        }
    }
}
