namespace QstOrleans.Data.Tokenization;

/// <summary>
/// The piece tables of a SentencePiece model, split as sentencepiece splits them (model_interface.cc): NORMAL,
/// USER_DEFINED and UNUSED pieces can be produced by segmentation; CONTROL, UNKNOWN and BYTE pieces are reserved and
/// only found by exact lookup.
/// </summary>
internal sealed class SentencePieceVocabulary
{
    private readonly Dictionary<string, int> _mergeable = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _mergeableBySpan;
    private readonly Dictionary<string, int> _reserved = new(StringComparer.Ordinal);
    private readonly string[] _userDefined;

    public SentencePieceVocabulary(SentencePieceModel model)
    {
        Entries = model.Pieces;
        UnknownId = model.UnknownId;
        for (int i = 0; i < Entries.Count; i++)
        {
            bool mergeable = Entries[i].Type is SentencePieceType.Normal or SentencePieceType.UserDefined or SentencePieceType.Unused;
            (mergeable ? _mergeable : _reserved)[Entries[i].Piece] = i;
        }
        _mergeableBySpan = _mergeable.GetAlternateLookup<ReadOnlySpan<char>>();
        _userDefined = Entries.Where(e => e.Type == SentencePieceType.UserDefined).Select(e => e.Piece).ToArray();
    }

    public IReadOnlyList<SentencePieceEntry> Entries { get; }
    public int UnknownId { get; }

    /// <summary>Id of a piece that segmentation may produce (NORMAL, USER_DEFINED, UNUSED).</summary>
    public bool TryGetMergeable(ReadOnlySpan<char> piece, out int id) => _mergeableBySpan.TryGetValue(piece, out id);

    /// <summary>sentencepiece's PieceToId: reserved pieces first, then the others, else the unknown id.</summary>
    public int PieceToId(string piece) =>
        _reserved.TryGetValue(piece, out int id) ? id : _mergeable.TryGetValue(piece, out id) ? id : UnknownId;

    /// <summary>Id of exactly this piece, or null (no unknown fallback).</summary>
    public int? Find(string piece) =>
        _reserved.TryGetValue(piece, out int id) || _mergeable.TryGetValue(piece, out id) ? id : null;

    /// <summary>
    /// Length (UTF-16 units) of the first symbol at <paramref name="pos"/>: the longest user-defined symbol there
    /// (<paramref name="isUserDefined"/> true), else one Unicode character.
    /// </summary>
    public int MatchUserDefined(string text, int pos, out bool isUserDefined)
    {
        int longest = 0;
        foreach (string symbol in _userDefined)
            if (symbol.Length > longest && text.AsSpan(pos).StartsWith(symbol, StringComparison.Ordinal))
                longest = symbol.Length;
        isUserDefined = longest > 0;
        if (isUserDefined) return longest;
        return char.IsHighSurrogate(text[pos]) && pos + 1 < text.Length ? 2 : 1;
    }
}
