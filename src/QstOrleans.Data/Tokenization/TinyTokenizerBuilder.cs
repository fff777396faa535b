using System.Text;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// Learns a small SentencePiece-style BPE vocabulary from a corpus, for a tiny test model's tokenizer
/// (written with <see cref="SentencePieceModelWriter"/>).
/// </summary>
/// <remarks>
/// <para>Pre-processing mirrors SentencePiece with Llama-2's normalizer: a '▁' is prepended to each text
/// (add_dummy_prefix), spaces become '▁', and words split before each '▁' (merges never cross a word start).</para>
/// <para>Alphabet: every non-control character (Unicode scalar) of the corpus, most frequent first; control
/// characters such as '\n' are left to byte fallback, as in Llama-2 ('\n' is &lt;0x0A&gt;).</para>
/// <para>Merges: repeatedly merge the most frequent adjacent pair (ties: ordinal order of the pair), until the
/// vocabulary is full or no pair occurs twice. Fully deterministic.</para>
/// <para>Returned order: merged pieces in merge order (they get the highest scores, so the SentencePiece
/// encoder applies them in learned order), then the alphabet.</para>
/// Throws <see cref="ArgumentOutOfRangeException"/> when <c>vocabSize</c> leaves no room for normal pieces.
/// </remarks>
public static class TinyTokenizerBuilder
{
    public const char SpaceMarker = '\u2581'; // '▁'

    /// <summary>
    /// Learns the normal pieces. <paramref name="vocabSize"/> is the TOTAL vocabulary including the 3 special
    /// and 256 byte pieces; the result has at most <c>vocabSize - 259</c> pieces (fewer if merges run out).
    /// </summary>
    public static IReadOnlyList<string> Build(IEnumerable<string> corpus, int vocabSize)
    {
        int budget = vocabSize - SentencePieceModelWriter.FirstNormalId;
        if (budget < 1)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize,
                $"vocabSize must exceed {SentencePieceModelWriter.FirstNormalId} (3 special + 256 byte pieces).");

        var wordCounts = CountWords(corpus);
        var alphabet = ChooseAlphabet(wordCounts, budget);
        var inVocab = new HashSet<string>(alphabet, StringComparer.Ordinal);

        // Each distinct word as its current symbol sequence.
        var words = wordCounts
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (Symbols: Runes(kv.Key), Count: kv.Value))
            .ToList();

        var merges = new List<string>();
        while (alphabet.Count + merges.Count < budget)
        {
            var best = BestPair(words, inVocab);
            if (best is null) break;
            var (left, right) = best.Value;
            string merged = left + right;
            if (inVocab.Add(merged)) merges.Add(merged);
            foreach (var w in words) ApplyMerge(w.Symbols, left, right, merged);
        }
        return merges.Concat(alphabet).ToList();
    }

    /// <summary>SentencePiece-style words: '▁' + text with spaces as '▁', split before every '▁'.</summary>
    internal static Dictionary<string, long> CountWords(IEnumerable<string> corpus)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string text in corpus)
        {
            string s = SpaceMarker + text.Replace(' ', SpaceMarker);
            int start = 0;
            for (int i = 1; i <= s.Length; i++)
            {
                if (i < s.Length && s[i] != SpaceMarker) continue;
                string word = s[start..i];
                counts[word] = counts.GetValueOrDefault(word) + 1;
                start = i;
            }
        }
        return counts;
    }

    private static List<string> ChooseAlphabet(Dictionary<string, long> wordCounts, int budget)
    {
        var charCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (word, count) in wordCounts)
            foreach (var rune in word.EnumerateRunes())
            {
                if (Rune.IsControl(rune)) continue;
                string c = rune.ToString();
                charCounts[c] = charCounts.GetValueOrDefault(c) + count;
            }
        // Always keep '▁' so that every word start has a piece.
        charCounts[SpaceMarker.ToString()] = long.MaxValue;
        return charCounts
            .OrderByDescending(kv => kv.Value)
            .ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Take(budget)
            .Select(kv => kv.Key)
            .ToList();
    }

    private static List<string> Runes(string word) => word.EnumerateRunes().Select(r => r.ToString()).ToList();

    private static (string Left, string Right)? BestPair(List<(List<string> Symbols, long Count)> words, HashSet<string> inVocab)
    {
        var pairCounts = new Dictionary<(string, string), long>();
        foreach (var (symbols, count) in words)
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                // A symbol outside the vocabulary becomes byte pieces at encode time and cannot merge.
                if (!inVocab.Contains(symbols[i]) || !inVocab.Contains(symbols[i + 1])) continue;
                var key = (symbols[i], symbols[i + 1]);
                pairCounts[key] = pairCounts.GetValueOrDefault(key) + count;
            }
        (string, string)? best = null;
        long bestCount = 1; // a pair seen once is not worth a piece
        foreach (var (pair, count) in pairCounts)
        {
            if (count > bestCount || (count == bestCount && best is not null && ComparePairs(pair, best.Value) < 0))
            {
                best = pair;
                bestCount = count;
            }
        }
        return best;
    }

    private static int ComparePairs((string, string) a, (string, string) b)
    {
        int c = string.CompareOrdinal(a.Item1, b.Item1);
        return c != 0 ? c : string.CompareOrdinal(a.Item2, b.Item2);
    }

    private static void ApplyMerge(List<string> symbols, string left, string right, string merged)
    {
        for (int i = 0; i + 1 < symbols.Count; i++)
        {
            if (symbols[i] == left && symbols[i + 1] == right)
            {
                symbols[i] = merged;
                symbols.RemoveAt(i + 1);
            }
        }
    }
}
