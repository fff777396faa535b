namespace QstOrleans.Data.Tokenization.HfJson;

/// <summary>An added token of a <c>tokenizer.json</c> (<c>added_tokens</c>): matched whole in the text, never split.</summary>
internal sealed record HfAddedToken(string Content, int Id, bool Special, bool Normalized, bool LeftStrip, bool RightStrip);

/// <summary>
/// A whole HF <c>tokenizer.json</c> BPE tokenizer: added tokens, normalizer, pre-tokenizers, the BPE model and the
/// decoders, run in the order <c>@huggingface/transformers</c> runs them (the reference of the golden tests).
/// </summary>
/// <remarks>
/// Encode: split the text at added tokens whose <c>normalized</c> is false (at each position the longest one wins;
/// <c>lstrip</c>/<c>rstrip</c> trim the neighbouring text); each other section is normalized, split again at the
/// normalized added tokens, pre-tokenized (Metaspace "first" prepends only in section 0) and segmented by
/// <see cref="HfBpeModel"/>. Decode: ids to token strings, the decoder chain, joined. Thread-safe.
/// </remarks>
internal sealed class HfTokenizer
{
    private readonly HfBpeModel _model;
    private readonly IReadOnlyList<HfNormalizer> _normalizers;
    private readonly IReadOnlyList<HfPreTokenizer> _preTokenizers;
    private readonly IReadOnlyList<HfDecoder> _decoders;
    private readonly Dictionary<string, HfAddedToken> _added;
    private readonly Dictionary<char, string[]> _rawByFirst, _normalizedByFirst;   // longest first
    private readonly Dictionary<int, string> _idToToken;
    private readonly HashSet<string> _addedTexts;

    public HfTokenizer(HfBpeModel model, IReadOnlyDictionary<string, int> vocab, IReadOnlyList<HfAddedToken> added,
        IReadOnlyList<HfNormalizer> normalizers, IReadOnlyList<HfPreTokenizer> preTokenizers, IReadOnlyList<HfDecoder> decoders, bool byteLevel)
    {
        _model = model;
        _normalizers = normalizers;
        _preTokenizers = preTokenizers;
        _decoders = decoders;
        ByteLevel = byteLevel;
        _added = new Dictionary<string, HfAddedToken>(StringComparer.Ordinal);
        foreach (var a in added) _added[a.Content] = a;
        _addedTexts = new HashSet<string>(_added.Keys, StringComparer.Ordinal);
        _rawByFirst = ByFirstChar(added.Where(a => !a.Normalized));
        _normalizedByFirst = ByFirstChar(added.Where(a => a.Normalized));
        _idToToken = new Dictionary<int, string>();
        foreach (var (token, id) in vocab) _idToToken.TryAdd(id, token);
        foreach (var a in added) _idToToken[a.Id] = a.Content;
    }

    /// <summary>True when tokens are byte-level symbols (GPT-2 / Llama-3 / Qwen), false for Metaspace-style pieces.</summary>
    public bool ByteLevel { get; }

    private static Dictionary<char, string[]> ByFirstChar(IEnumerable<HfAddedToken> tokens) =>
        tokens.GroupBy(t => t.Content[0]).ToDictionary(g => g.Key, g => g.Select(t => t.Content).OrderByDescending(c => c.Length).ToArray());

    /// <summary>Token ids of <paramref name="text"/> (no BOS/EOS: the post-processor is not run).</summary>
    public List<int> Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 1);
        var sections = SplitAdded(text, _rawByFirst);
        for (int i = 0; i < sections.Count; i++)
        {
            string section = sections[i];
            if (section.Length == 0) continue;
            if (_added.TryGetValue(section, out var token))
            {
                ids.Add(token.Id);
                continue;
            }
            foreach (var n in _normalizers) section = n.Apply(section);
            if (section.Length == 0) continue;
            foreach (string sub in SplitAdded(section, _normalizedByFirst))
            {
                if (sub.Length == 0) continue;
                if (_added.TryGetValue(sub, out token))
                {
                    ids.Add(token.Id);
                    continue;
                }
                IEnumerable<string> words = [sub];
                foreach (var p in _preTokenizers)
                {
                    int index = i;
                    words = words.SelectMany(w => p.Split(w, index)).ToList();
                }
                foreach (string w in words) _model.Encode(w, ids);
            }
        }
        return ids;
    }

    /// <summary>Splits at the added tokens of <paramref name="byFirst"/> (the longest match at each position), then applies
    /// their lstrip/rstrip to the neighbouring sections.</summary>
    private List<string> SplitAdded(string text, Dictionary<char, string[]> byFirst)
    {
        var sections = new List<string>();
        if (byFirst.Count == 0)
        {
            sections.Add(text);
            return sections;
        }
        int start = 0;
        for (int i = 0; i < text.Length;)
        {
            string? match = null;
            if (byFirst.TryGetValue(text[i], out var candidates))
                foreach (string c in candidates)
                    if (i + c.Length <= text.Length && string.CompareOrdinal(text, i, c, 0, c.Length) == 0)
                    {
                        match = c;
                        break;
                    }
            if (match is null)
            {
                i++;
                continue;
            }
            if (i > start) sections.Add(text[start..i]);
            sections.Add(match);
            i += match.Length;
            start = i;
        }
        if (start < text.Length) sections.Add(text[start..]);
        for (int i = 0; i < sections.Count; i++)
            if (_added.TryGetValue(sections[i], out var a))
            {
                if (a.LeftStrip && i > 0 && !_added.ContainsKey(sections[i - 1])) sections[i - 1] = sections[i - 1].TrimEnd();
                if (a.RightStrip && i < sections.Count - 1 && !_added.ContainsKey(sections[i + 1])) sections[i + 1] = sections[i + 1].TrimStart();
            }
        return sections;
    }

    /// <summary>Text of <paramref name="ids"/> through the decoder chain (ids unknown to the file are an error).</summary>
    public string Decode(IReadOnlyList<int> ids)
    {
        var tokens = new List<string>(ids.Count);
        foreach (int id in ids)
            tokens.Add(_idToToken.TryGetValue(id, out var t) ? t : throw new ArgumentOutOfRangeException(nameof(ids), id, "token id outside the vocabulary"));
        if (tokens.Count == 0) return "";
        foreach (var d in _decoders) tokens = d.Apply(tokens, _addedTexts);
        return string.Concat(tokens);
    }

    /// <summary>The stored string of one id (a byte-level symbol string, a Metaspace piece or an added token), or null.</summary>
    public string? IdToToken(int id) => _idToToken.TryGetValue(id, out var t) ? t : null;
}
