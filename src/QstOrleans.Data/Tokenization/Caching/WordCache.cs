using System.Collections.Concurrent;

namespace QstOrleans.Data.Tokenization.Caching;

/// <summary>
/// Remembers the segmentation of a word (a pre-token, or a SentencePiece word between word starts), as HF tokenizers
/// and tiktoken keep one: natural text repeats a small set of words, so most words are segmented once and then looked
/// up. Only pure functions of the word may be cached: the caller guarantees that a word's segmentation never depends
/// on its neighbours (see <see cref="SentencePieceBpe"/> for when that holds).
/// </summary>
/// <remarks>
/// Thread-safe and lock-free on hits (the parallel token-cache build shares one tokenizer between threads). Bounded:
/// after <see cref="Capacity"/> words nothing more is added (as HF tokenizers' cache), so a stream of unique words
/// costs a failed lookup each, never unbounded memory. Words longer than <see cref="MaxWordLength"/> are not cached.
/// Hits are looked up by span, so a hit allocates nothing.
/// </remarks>
/// <typeparam name="T">What a word segments into (ids, or (piece, id) pairs).</typeparam>
internal sealed class WordCache<T>
{
    /// <summary>Words kept at most (a few MB for typical words).</summary>
    public const int Capacity = 100_000;
    /// <summary>Longer words are segmented every time (rare; they would crowd the cache).</summary>
    public const int MaxWordLength = 64;

    readonly ConcurrentDictionary<string, T[]> _words = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, T[]>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    int _count;                                                                  // ConcurrentDictionary.Count takes every lock

    public WordCache() => _bySpan = _words.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Words held now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The cached segmentation of <paramref name="word"/>, or null.</summary>
    public T[]? Find(ReadOnlySpan<char> word) => _bySpan.TryGetValue(word, out var cached) ? cached : null;

    /// <summary>Keeps <paramref name="segments"/> for <paramref name="word"/> while there is room (a concurrent add of the same word keeps one).</summary>
    public void Add(ReadOnlySpan<char> word, T[] segments)
    {
        if (word.Length > MaxWordLength || Volatile.Read(ref _count) >= Capacity) return;
        if (_bySpan.TryAdd(word, segments)) Interlocked.Increment(ref _count);
    }
}
