using QstOrleans.Data.Tokenization.Caching;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// SentencePiece's BPE segmentation (bpe_model.cc): repeatedly merge the adjacent pair whose concatenation is the
/// highest-scoring piece, the <b>leftmost</b> pair among equal scores.
/// </summary>
/// <remarks>
/// <para>Why our own: Microsoft.ML.Tokenizers 2.0.1 breaks ties between equal-score pairs (the same piece at several
/// places, as in "aaaa" or runs of spaces) differently, so its ids differed from sentencepiece's on ~8 % of ordinary
/// English lines.</para>
/// <para>Start: one symbol per Unicode character, except user-defined symbols, which are matched longest-first and
/// never merged (frozen). Pairs whose concatenation is a NORMAL, USER_DEFINED or UNUSED piece enter a priority queue
/// (score descending, then left position ascending); a popped pair whose symbols changed since is stale and dropped.
/// A final symbol that is an UNUSED piece is split back into the two symbols that formed it, recursively.</para>
/// <para>Word cache (<see cref="EncoderOptions.WordCache"/>): sentencepiece segments the whole normalized text at once,
/// but when no mergeable piece holds a '▁' after a character other than '▁' (true of models trained with
/// split_by_whitespace, the default, Llama-2's included: "▁the", "▁▁▁▁" yes, "a▁b" no), no merge can cross a position
/// where a '▁' follows another character. The text then splits there into words whose merges are independent, and
/// because the agenda orders a word's pairs exactly as the whole text's (score, then position), each word's
/// segmentation is the one sentencepiece produces inside the whole text, so it can be cached. Not used with
/// treat_whitespace_as_suffix (words end, not start, with '▁') or with UNUSED pieces (their resegmentation reads
/// splits recorded over the whole text).</para>
/// </remarks>
internal sealed class SentencePieceBpe
{
    private const char SpaceSymbol = '\u2581';
    private readonly SentencePieceVocabulary _vocab;
    private readonly WordCache<(string Piece, int Id)>? _cache;

    public SentencePieceBpe(SentencePieceVocabulary vocab, bool whitespaceAsSuffix, EncoderOptions options)
    {
        _vocab = vocab;
        if (options.WordCache && !whitespaceAsSuffix && WordsAreIndependent(vocab)) _cache = new();
    }

    /// <summary>True when words are segmented (and cached) one by one; see the class remarks.</summary>
    public bool CachesWords => _cache is not null;

    // No mergeable piece joins a character other than '▁' to a following '▁', and none is UNUSED.
    private static bool WordsAreIndependent(SentencePieceVocabulary vocab)
    {
        foreach (var entry in vocab.Entries)
        {
            if (entry.Type is not (SentencePieceType.Normal or SentencePieceType.UserDefined or SentencePieceType.Unused)) continue;
            if (entry.Type == SentencePieceType.Unused) return false;
            string piece = entry.Piece;
            int lead = 0;
            while (lead < piece.Length && piece[lead] == SpaceSymbol) lead++;
            if (piece.IndexOf(SpaceSymbol, lead) >= 0) return false;
        }
        return true;
    }

    private struct Symbol
    {
        public int Start, Length, Prev, Next;
        public bool Freeze;
    }

    private readonly record struct Pair(int Left, int Right, float Score, int Length);

    // sentencepiece's SymbolPairComparator: higher score first, then the smaller left index.
    private sealed class PairOrder : IComparer<Pair>
    {
        public static readonly PairOrder Instance = new();
        public int Compare(Pair a, Pair b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left);
    }

    /// <summary>Appends the (piece, id) segmentation of <paramref name="normalized"/>; id is the unknown id for unknown pieces.</summary>
    public void Encode(string normalized, List<(string Piece, int Id)> output)
    {
        if (_cache is null)
        {
            Segment(normalized, output);
            return;
        }
        // Words start at each '▁' that follows another character (a run of '▁' stays with the word it starts).
        var scratch = new List<(string Piece, int Id)>();
        for (int start = 0, i = 1; i <= normalized.Length; i++)
        {
            if (i < normalized.Length && (normalized[i] != SpaceSymbol || normalized[i - 1] == SpaceSymbol)) continue;
            var word = normalized.AsSpan(start, i - start);
            if (_cache.Find(word) is { } cached) output.AddRange(cached);
            else
            {
                scratch.Clear();
                Segment(word.ToString(), scratch);
                output.AddRange(scratch);
                _cache.Add(word, scratch.ToArray());
            }
            start = i;
        }
    }

    // sentencepiece's BpeModel::Encode over one text.
    private void Segment(string normalized, List<(string Piece, int Id)> output)
    {
        if (normalized.Length == 0) return;
        var symbols = new List<Symbol>(normalized.Length);
        for (int pos = 0; pos < normalized.Length;)
        {
            int length = _vocab.MatchUserDefined(normalized, pos, out bool freeze);
            int index = symbols.Count;
            symbols.Add(new Symbol { Start = pos, Length = length, Prev = index - 1, Next = pos + length < normalized.Length ? index + 1 : -1, Freeze = freeze });
            pos += length;
        }

        var agenda = new PriorityQueue<Pair, Pair>(PairOrder.Instance);
        Dictionary<string, (string Left, string Right)>? revMerge = null; // only models with UNUSED pieces need it
        var all = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);

        void MaybeAdd(Span<Symbol> s, int left, int right)
        {
            if (left == -1 || right == -1 || s[left].Freeze || s[right].Freeze) return;
            var piece = normalized.AsSpan(s[left].Start, s[left].Length + s[right].Length);
            if (!_vocab.TryGetMergeable(piece, out int id)) return;
            var pair = new Pair(left, right, _vocab.Entries[id].Score, piece.Length);
            agenda.Enqueue(pair, pair);
            if (_vocab.Entries[id].Type == SentencePieceType.Unused)
                (revMerge ??= new(StringComparer.Ordinal))[piece.ToString()] = (normalized.Substring(s[left].Start, s[left].Length), normalized.Substring(s[right].Start, s[right].Length));
        }

        for (int i = 1; i < symbols.Count; i++) MaybeAdd(all, i - 1, i);
        while (agenda.TryDequeue(out var top, out _))
        {
            ref var left = ref all[top.Left];
            ref var right = ref all[top.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != top.Length) continue; // stale
            left.Length += right.Length;
            left.Next = right.Next;
            if (right.Next >= 0) all[right.Next].Prev = top.Left;
            right.Length = 0;
            MaybeAdd(all, left.Prev, top.Left);
            MaybeAdd(all, top.Left, left.Next);
        }

        for (int i = 0; i != -1; i = all[i].Next)
            Resegment(normalized.Substring(all[i].Start, all[i].Length), revMerge, output);
    }

    private void Resegment(string piece, Dictionary<string, (string Left, string Right)>? revMerge, List<(string, int)> output)
    {
        int id = _vocab.PieceToId(piece);
        if (revMerge is null || _vocab.Entries[id].Type != SentencePieceType.Unused || !revMerge.TryGetValue(piece, out var parts))
        {
            output.Add((piece, id));
            return;
        }
        Resegment(parts.Left, revMerge, output);
        Resegment(parts.Right, revMerge, output);
    }
}
