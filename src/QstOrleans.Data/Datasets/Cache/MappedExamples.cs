using System.Collections;
using System.IO.MemoryMappedFiles;

namespace QstOrleans.Data.Datasets.Cache;

/// <summary>
/// The examples of a token cache file read in place through its memory map: opening costs one pass over the offsets,
/// and an example's arrays are copied out only when it is asked for (a resume touches the few examples of its first
/// micro-batches, not a million). Read-only and thread-safe.
/// </summary>
/// <remarks>
/// Why not arrays read at open: a million examples are two million small arrays that all survive, and the garbage
/// collector copied them from generation to generation; at 1M rows that, not the disk, was most of a resume's time.
/// The map stays valid when the cache file is replaced or removed (a rename or unlink keeps the mapped pages on
/// Linux); it is released when this list is collected.
/// </remarks>
internal sealed unsafe class MappedExamples : IReadOnlyList<TokenizedExample>
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly long* _offsets;                                                     // [N + 1]
    readonly int* _ids, _labels;                                                 // [T] each

    MappedExamples(MemoryMappedFile map, MemoryMappedViewAccessor view, byte* file, long offsetsAt, long idsAt, long labelsAt, int count)
    {
        (_map, _view, Count) = (map, view, count);
        _offsets = (long*)(file + offsetsAt);
        _ids = (int*)(file + idsAt);
        _labels = (int*)(file + labelsAt);
    }

    /// <summary>Maps the examples region of an open cache view; null when the offsets are not a valid partition of
    /// [0, <paramref name="tokens"/>). On success the list owns <paramref name="map"/> and <paramref name="view"/>.</summary>
    public static MappedExamples? Open(MemoryMappedFile map, MemoryMappedViewAccessor view, byte* file, long offsetsAt, long idsAt,
        long labelsAt, int count, long tokens)
    {
        var offsets = (long*)(file + offsetsAt);
        if (offsets[0] != 0 || offsets[count] != tokens) return null;
        for (int i = 0; i < count; i++)
            if (offsets[i + 1] < offsets[i] || offsets[i + 1] - offsets[i] > int.MaxValue) return null;
        return new MappedExamples(map, view, file, offsetsAt, idsAt, labelsAt, count);
    }

    public int Count { get; }

    public TokenizedExample this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"the cache holds {Count} examples");
            long at = _offsets[index];
            int n = (int)(_offsets[index + 1] - at);
            var example = new TokenizedExample(new ReadOnlySpan<int>(_ids + at, n).ToArray(), new ReadOnlySpan<int>(_labels + at, n).ToArray());
            GC.KeepAlive(this);                                                  // the finalizer must not unmap mid-copy
            return example;
        }
    }

    /// <summary>
    /// True when every input id lies in [0, <paramref name="vocabSize"/>) and every label does or is -100 (ignored):
    /// one pass over the mapped ids and labels, no example copied (a resume checks a million examples this way).
    /// </summary>
    public bool AllIdsBelow(int vocabSize)
    {
        long tokens = _offsets[Count];
        uint limit = (uint)vocabSize;
        for (long t = 0; t < tokens; t++)
        {
            if ((uint)_ids[t] >= limit) return false;
            int label = _labels[t];
            if (label != -100 && (uint)label >= limit) return false;
        }
        GC.KeepAlive(this);
        return true;
    }

    /// <summary>Every example's length, from the offsets alone (no example is copied).</summary>
    public int[] Lengths()
    {
        var lengths = new int[Count];
        for (int i = 0; i < Count; i++) lengths[i] = (int)(_offsets[i + 1] - _offsets[i]);
        GC.KeepAlive(this);
        return lengths;
    }

    public IEnumerator<TokenizedExample> GetEnumerator()
    {
        for (int i = 0; i < Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    ~MappedExamples()
    {
        // Normal finalizers run before the handles' critical ones, so the view's handle is still open here.
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
