using System.Runtime.InteropServices;
using System.Text;
using QstOrleans.Data.Tokenization.Caching;

namespace QstOrleans.Data.Tokenization.HfJson;

/// <summary>
/// The BPE model of a HF <c>tokenizer.json</c> (<c>model.type = "BPE"</c>): one pre-token in, token ids out, as HF
/// tokenizers and <c>@huggingface/transformers</c> segment it.
/// </summary>
/// <remarks>
/// <para>Start: one symbol per Unicode code point (surrogate pairs stay whole). Repeatedly merge the adjacent pair with
/// the lowest merge rank, the <b>leftmost</b> among equal ranks (the same pair at several places). With
/// <c>ignore_merges</c> (Llama-3) a pre-token that is itself a vocabulary entry is taken whole first.</para>
/// <para>A final symbol missing from the vocabulary becomes its UTF-8 bytes as <c>&lt;0xXX&gt;</c> tokens with
/// <c>byte_fallback</c> (Mistral, Llama-2), else the unknown token; with neither it is dropped, as transformers.js does.</para>
/// <para>Safe to call from many threads (the parallel token-cache build does). A pre-token's ids depend on nothing
/// else, so with <see cref="EncoderOptions.WordCache"/> they are kept per pre-token (<see cref="WordCache{T}"/>), as HF
/// tokenizers' own BPE cache does.</para>
/// </remarks>
internal sealed class HfBpeModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(string Left, string Right), int> _ranks;
    private readonly bool _byteFallback, _ignoreMerges;
    private readonly int? _unknownId;
    private readonly int[] _byteIds = new int[256];                              // -1 where <0xXX> is missing
    private readonly WordCache<int>? _cache;

    public HfBpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, bool byteFallback,
        bool ignoreMerges, string? unknownToken, EncoderOptions? options = null)
    {
        if ((options ?? EncoderOptions.Default).WordCache) _cache = new();
        _vocab = vocab;
        _ranks = new Dictionary<(string, string), int>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++) _ranks.TryAdd(merges[rank], rank);   // the first rank of a repeated merge wins
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        _unknownId = unknownToken is not null && vocab.TryGetValue(unknownToken, out int unk) ? unk : null;
        for (int b = 0; b < 256; b++) _byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
    }

    private struct Symbol
    {
        public int Start, Length, Prev, Next;
    }

    private readonly record struct Pair(int Left, int Right, int Rank, int Length);

    // Lowest rank first, then the leftmost pair.
    private sealed class PairOrder : IComparer<Pair>
    {
        public static readonly PairOrder Instance = new();
        public int Compare(Pair a, Pair b) => a.Rank != b.Rank ? a.Rank.CompareTo(b.Rank) : a.Left.CompareTo(b.Left);
    }

    /// <summary>Appends the ids of one pre-token (already normalized and byte-mapped where the pipeline says so).</summary>
    public void Encode(string word, List<int> output)
    {
        if (word.Length == 0) return;
        if (_cache?.Find(word) is { } cached)
        {
            output.AddRange(cached);
            return;
        }
        int start = output.Count;
        Segment(word, output);
        _cache?.Add(word, CollectionsMarshal.AsSpan(output)[start..].ToArray());
    }

    // The merges of one pre-token (what the cache keeps).
    private void Segment(string word, List<int> output)
    {
        if (_ignoreMerges && _vocab.TryGetValue(word, out int whole))
        {
            output.Add(whole);
            return;
        }
        var symbols = new List<Symbol>(word.Length);
        for (int pos = 0; pos < word.Length;)
        {
            int length = char.IsHighSurrogate(word[pos]) && pos + 1 < word.Length && char.IsLowSurrogate(word[pos + 1]) ? 2 : 1;
            int index = symbols.Count;
            symbols.Add(new Symbol { Start = pos, Length = length, Prev = index - 1, Next = pos + length < word.Length ? index + 1 : -1 });
            pos += length;
        }
        var all = CollectionsMarshal.AsSpan(symbols);
        var agenda = new PriorityQueue<Pair, Pair>(PairOrder.Instance);

        void MaybeAdd(Span<Symbol> s, int left, int right)
        {
            if (left == -1 || right == -1) return;
            var key = (word.Substring(s[left].Start, s[left].Length), word.Substring(s[right].Start, s[right].Length));
            if (!_ranks.TryGetValue(key, out int rank)) return;
            var pair = new Pair(left, right, rank, s[left].Length + s[right].Length);
            agenda.Enqueue(pair, pair);
        }

        for (int i = 1; i < symbols.Count; i++) MaybeAdd(all, i - 1, i);
        while (agenda.TryDequeue(out var top, out _))
        {
            ref var left = ref all[top.Left];
            ref var right = ref all[top.Right];
            if (left.Length == 0 || right.Length == 0 || left.Next != top.Right || left.Length + right.Length != top.Length) continue; // stale
            left.Length += right.Length;
            left.Next = right.Next;
            if (right.Next >= 0) all[right.Next].Prev = top.Left;
            right.Length = 0;
            MaybeAdd(all, left.Prev, top.Left);
            MaybeAdd(all, top.Left, left.Next);
        }

        for (int i = 0; i != -1; i = all[i].Next)
            Emit(word.Substring(all[i].Start, all[i].Length), output);
    }

    private void Emit(string token, List<int> output)
    {
        if (_vocab.TryGetValue(token, out int id))
        {
            output.Add(id);
            return;
        }
        if (_byteFallback)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(token);
            if (bytes.All(b => _byteIds[b] >= 0))
            {
                foreach (byte b in bytes) output.Add(_byteIds[b]);
                return;
            }
        }
        if (_unknownId is int unk) output.Add(unk);
    }
}
