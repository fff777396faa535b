using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;

namespace QstOrleans.Data.Datasets.Cache;

/// <summary>
/// The on-disk token cache: every kept example's ids and labels, flat, behind a header that carries the key they were
/// made under. Read through a memory map that stays open (<see cref="MappedExamples"/>: no parse, no tokenizer, no
/// example copied until it is used); written to a temporary file and renamed, so a reader never sees half a cache.
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
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            if (Open(map, view, length, key) is { } opened) return opened;     // the examples own the map now
        }
        catch (IOException)
        {
            // Replaced or truncated while we opened it: a miss.
        }
        view?.Dispose();
        map?.Dispose();
        return null;
    }

    // Checks the header and offsets through one pointer and leaves the examples mapped (MappedExamples); null = not valid.
    static unsafe (IReadOnlyList<TokenizedExample> Examples, string Summary)? Open(MemoryMappedFile map, MemoryMappedViewAccessor view, long length, byte[] key)
    {
        byte* file = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref file);
        bool kept = false;
        try
        {
            file += view.PointerOffset;
            var head = new ReadOnlySpan<byte>(file, HeaderBytes);
            if (!head[..8].SequenceEqual(Magic) || !head.Slice(8, KeyBytes).SequenceEqual(key)) return null;
            long count = BitConverter.ToInt64(head[(8 + KeyBytes)..]), tokens = BitConverter.ToInt64(head[(16 + KeyBytes)..]);
            int textLength = BitConverter.ToInt32(head[(24 + KeyBytes)..]);
            if (count < 0 || count >= int.MaxValue || tokens < 0 || textLength < 0 || textLength > length) return null;
            long offsetsAt = HeaderBytes + textLength + Pad(HeaderBytes + textLength);
            long idsAt = offsetsAt + 8 * (count + 1), labelsAt = idsAt + 4 * tokens;
            if (labelsAt + 4 * tokens != length) return null;

            string summary = Encoding.UTF8.GetString(file + HeaderBytes, textLength);
            var examples = MappedExamples.Open(map, view, file, offsetsAt, idsAt, labelsAt, (int)count, tokens);
            if (examples is null) return null;
            kept = true;                                                         // released by the examples' finalizer
            return (examples, summary);
        }
        finally
        {
            if (!kept) view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    static int Pad(long n) => (int)((8 - n % 8) % 8);
}
