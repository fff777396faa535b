using System.Text;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// SentencePiece's unigram segmentation (unigram_model.cc, the optimized Viterbi of EncodeOptimized): the
/// segmentation with the highest total piece score.
/// </summary>
/// <remarks>
/// <para>Numerics as in sentencepiece: path sums are stored as single-precision floats, but a candidate (stored sum
/// + piece score) is computed and compared in double, as the C++ does; a user-defined piece
/// scores <c>bytes × max_score − 0.1</c>, where max_score is the
/// highest NORMAL score (0 when none is positive, because sentencepiece starts from FLT_MIN); a character with no
/// one-character piece becomes an unknown node scoring <c>min_score − 10</c>. Ties keep the earlier path
/// (strict comparison), UNUSED pieces are skipped.</para>
/// </remarks>
internal sealed class SentencePieceUnigram
{
    private const float UnknownPenalty = 10f;
    private const float FltMin = 1.17549435E-38f; // C's FLT_MIN, sentencepiece's starting max_score
    private readonly SentencePieceVocabulary _vocab;
    private readonly float _minScore;
    private readonly float _maxScore;
    private readonly int _maxPieceChars;

    public SentencePieceUnigram(SentencePieceVocabulary vocab)
    {
        _vocab = vocab;
        float min = float.MaxValue, max = FltMin;
        foreach (var e in vocab.Entries)
        {
            if (e.Type != SentencePieceType.Normal) continue;
            min = Math.Min(min, e.Score);
            max = Math.Max(max, e.Score);
        }
        _minScore = min == float.MaxValue ? 0f : min;
        _maxScore = max == FltMin ? 0f : max;
        _maxPieceChars = vocab.Entries.Count == 0 ? 1 : vocab.Entries.Max(e => e.Piece.Length);
    }

    private struct Node
    {
        public int Id;
        public float Score;
        public int StartsAt;
    }

    /// <summary>Appends the best (piece, id) segmentation of <paramref name="normalized"/>.</summary>
    public void Encode(string normalized, List<(string Piece, int Id)> output)
    {
        int size = normalized.Length;
        if (size == 0) return;
        float unkScore = _minScore - UnknownPenalty;
        var best = new Node[size + 1];
        for (int i = 0; i <= size; i++) best[i] = new Node { Id = -1, StartsAt = -1 };

        for (int start = 0; start < size;)
        {
            float tillHere = best[start].Score;
            int charLength = char.IsHighSurrogate(normalized[start]) && start + 1 < size ? 2 : 1;
            bool hasSingle = false;
            int limit = Math.Min(size, start + _maxPieceChars);
            for (int end = start + 1; end <= limit; end++)
            {
                if (end < size && char.IsLowSurrogate(normalized[end])) continue; // not a character boundary
                var piece = normalized.AsSpan(start, end - start);
                if (!_vocab.TryGetMergeable(piece, out int id)) continue;
                var entry = _vocab.Entries[id];
                if (entry.Type == SentencePieceType.Unused) continue;
                // The C++ `score` is a double (its ternary mixes the user-defined double with the float score), so the
                // candidate sum is exact in double and compared with the stored float: ties are not symmetric.
                double score = entry.Type == SentencePieceType.UserDefined
                    ? (double)(Encoding.UTF8.GetByteCount(piece) * _maxScore) - 0.1
                    : entry.Score;
                double candidate = score + tillHere;
                ref var target = ref best[end];
                if (target.StartsAt == -1 || candidate > target.Score) Set(ref target, (float)candidate, start, id);
                if (end - start == charLength) hasSingle = true;
            }
            if (!hasSingle)
            {
                ref var target = ref best[start + charLength];
                float candidate = unkScore + tillHere;
                if (target.StartsAt == -1 || candidate > target.Score) Set(ref target, candidate, start, _vocab.UnknownId);
            }
            start += charLength;
        }

        int first = output.Count;
        for (int end = size; end > 0; end = best[end].StartsAt)
            output.Add((normalized.Substring(best[end].StartsAt, end - best[end].StartsAt), best[end].Id));
        output.Reverse(first, output.Count - first);
    }

    private static void Set(ref Node node, float score, int startsAt, int id)
    {
        node.Score = score;
        node.StartsAt = startsAt;
        node.Id = id;
    }
}
