using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;

namespace QstOrleans.Data.Datasets.Cache;

/// <summary>
/// The on-disk token cache: every kept example's ids and labels, flat, behind a header that carries the key they were
/// made under. Read through a memory map (no parse, no tokenizer); written to a temporary file and renamed, so a
/// reader never sees half a cache.
/// </summary>
/// <remarks>
/// Layout, little-endian: magic "QSTTOK" + version (8 bytes) | key (32 bytes) | example count N (int64) | token count T
/// (int64) | summary length S (int32) + S bytes of UTF-8, padded to 8 | offsets (int64 × (N+1)) | ids (int32 × T) |
/// labels (int32 × T). Example i is [offsets[i], offsets[i+1]) of ids and labels.
/// </remarks>
internal static class TokenCacheFile
{
    static readonly byte[] Magic = "QSTTOK\0\u0001"u8.ToArray();
    const int KeyBytes = 32;
    const int HeaderBytes = 8 + KeyBytes + 8 + 8 + 4;

    /// <summary>Writes <paramref name="examples"/> under <paramref name="key"/> to <paramref name="path"/> atomically.</summary>
    /// <exception cref="IOException">Or <see cref="UnauthorizedAccessException"/>: the folder cannot be written.</exception>
    public static void Write(string path, byte[] key, string summary, IReadOnlyList<TokenizedExample> examples)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            using (var w = new BinaryWriter(stream))
            {
                byte[] text = Encoding.UTF8.GetBytes(summary);
                long tokens = examples.Sum(e => (long)e.Length);
                w.Write(Magic);
                w.Write(key);
                w.Write((long)examples.Count);
                w.Write(tokens);
                w.Write(text.Length);
                w.Write(text);
                w.Write(new byte[Pad(HeaderBytes + text.Length)]);
                long offset = 0;
                w.Write(offset);
                foreach (var e in examples) w.Write(offset += e.Length);
                foreach (var e in examples) w.Write(MemoryMarshal.AsBytes(e.InputIds.AsSpan()));
                foreach (var e in examples) w.Write(MemoryMarshal.AsBytes(e.Labels.AsSpan()));
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>
    /// The examples and summary stored in <paramref name="path"/> when it exists, is whole and was made under
    /// <paramref name="key"/>; null otherwise (a stale or damaged cache is rebuilt, never trusted).
    /// </summary>
    public static (IReadOnlyList<TokenizedExample> Examples, string Summary)? TryRead(string path, byte[] key)
    {
        if (!File.Exists(path)) return null;
        long length = new FileInfo(path).Length;
        if (length < HeaderBytes) return null;
        try
        {
            using var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            using var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            var head = new byte[HeaderBytes];
            view.ReadArray(0, head, 0, HeaderBytes);
            if (!head.AsSpan(0, 8).SequenceEqual(Magic) || !head.AsSpan(8, KeyBytes).SequenceEqual(key)) return null;
            long count = BitConverter.ToInt64(head, 8 + KeyBytes), tokens = BitConverter.ToInt64(head, 16 + KeyBytes);
            int textLength = BitConverter.ToInt32(head, 24 + KeyBytes);
            if (count < 0 || count > int.MaxValue || tokens < 0 || textLength < 0 || textLength > length) return null;
            long offsetsAt = HeaderBytes + textLength + Pad(HeaderBytes + textLength);
            long idsAt = offsetsAt + 8 * (count + 1), labelsAt = idsAt + 4 * tokens;
            if (labelsAt + 4 * tokens != length) return null;

            var text = new byte[textLength];
            view.ReadArray(HeaderBytes, text, 0, textLength);
            var offsets = new long[count + 1];                                   // [N + 1]
            view.ReadArray(offsetsAt, offsets, 0, offsets.Length);
            if (offsets[0] != 0 || offsets[^1] != tokens) return null;
            var examples = new TokenizedExample[count];
            for (int i = 0; i < count; i++)
            {
                long at = offsets[i], n = offsets[i + 1] - at;
                if (n < 0) return null;
                var ids = new int[n];
                var labels = new int[n];
                view.ReadArray(idsAt + 4 * at, ids, 0, (int)n);
                view.ReadArray(labelsAt + 4 * at, labels, 0, (int)n);
                examples[i] = new TokenizedExample(ids, labels);
            }
            return (examples, Encoding.UTF8.GetString(text));
        }
        catch (IOException)
        {
            return null;                                                         // replaced or truncated while we read it
        }
    }

    static int Pad(long n) => (int)((8 - n % 8) % 8);
}
