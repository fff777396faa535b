using QstOrleans.Data.Tokenization;

namespace QstOrleans.Data.Datasets;

/// <summary>Truncation limit of the <see cref="SegmentCollator"/>: total tokens per example (≥ 2).</summary>
public sealed record SegmentCollatorOptions(int MaxLength = 1024);

/// <summary>Tokenized examples plus what tokenization cut or dropped (for the run log).</summary>
public sealed record TokenizationReport(IReadOnlyList<TokenizedExample> Examples, int Truncated, IReadOnlyList<DroppedRecord> Dropped)
{
    public string Summary => $"{Examples.Count} examples; {Truncated} truncated; {Dropped.Count} dropped with no trained token left";
}

/// <summary>
/// Tokenizes segmented examples (any <see cref="DatasetFormat"/>) into ids and labels: each segment is encoded on
/// its own, labels copy the ids of trained segments and are -100 elsewhere; pre-tokenized records pass through.
/// </summary>
/// <remarks>
/// <para>Special tokens: occurrences of the tokenizer's special-token strings (BOS, EOS, added tokens such as
/// <c>&lt;|eot_id|&gt;</c>) inside a segment become their single ids; the text between them is encoded normally.
/// This is needed because the SentencePiece path does not parse special-token text itself. Segments are encoded
/// separately, so no token spans a prompt/response boundary (as in QLoRA's separate source/target encoding).</para>
/// <para>Truncation: on the right to <see cref="SegmentCollatorOptions.MaxLength"/>, counted in
/// <see cref="TokenizationReport.Truncated"/>. An example left with no trained label (e.g. a prompt longer than
/// the limit) is dropped by <see cref="TokenizeAll"/> and reported, because it would contribute 0/0 to the loss.</para>
/// Throws <see cref="ArgumentOutOfRangeException"/> for MaxLength &lt; 2.
/// </remarks>
public sealed class SegmentCollator
{
    private readonly Func<string, IReadOnlyList<int>> _encode;
    private readonly KeyValuePair<string, int>[] _specials;
    private readonly int _pad;

    public SegmentCollator(ModelTokenizer tokenizer, ChatTemplate template, SegmentCollatorOptions? options = null)
        : this(text => tokenizer.Encode(text), tokenizer.SpecialTokens, tokenizer.PadId, template, options)
    {
    }

    /// <summary>For tests and other tokenizers: an encoder that adds no BOS/EOS itself, plus the special strings.</summary>
    internal SegmentCollator(Func<string, IReadOnlyList<int>> encode, IReadOnlyDictionary<string, int> specialTokens, int padId,
        ChatTemplate template, SegmentCollatorOptions? options)
    {
        Options = options ?? new SegmentCollatorOptions();
        if (Options.MaxLength < 2)
            throw new ArgumentOutOfRangeException(nameof(options), Options.MaxLength, "MaxLength must be at least 2.");
        _encode = encode;
        // Longest first, so that a special token that is a prefix of another never wins at the same position.
        _specials = specialTokens.Where(kv => kv.Key.Length > 0).OrderByDescending(kv => kv.Key.Length).ToArray();
        _pad = padId;
        Template = template;
    }

    public SegmentCollatorOptions Options { get; }
    public ChatTemplate Template { get; }

    public TokenizedExample Tokenize(DatasetRecord record) => Tokenize(record, out _);

    public TokenizedExample Tokenize(ConversationExample example) => Truncate(Encode(example), out _);

    private TokenizedExample Tokenize(DatasetRecord record, out bool truncated) => record is TokenRecord t
        ? Truncate(new TokenizedExample(t.InputIds, t.Labels), out truncated)
        : Truncate(Encode(PromptRenderer.Render(record, Template)), out truncated);

    /// <summary>Tokenizes a dataset; counts truncations and drops examples without a trained label.</summary>
    public TokenizationReport TokenizeAll(IEnumerable<DatasetRecord> records)
    {
        var list = new List<TokenizedExample>();
        var dropped = new List<DroppedRecord>();
        int truncated = 0;
        foreach (var r in records)
        {
            var e = Tokenize(r, out bool cut);
            if (cut) truncated++;
            if (e.Labels.All(l => l == InstructionCollator.IgnoreIndex))
                dropped.Add(new DroppedRecord(r.File, r.Line, cut ? "no trained token left after truncation" : "no trained token"));
            else
                list.Add(e);
        }
        return new TokenizationReport(list, truncated, dropped);
    }

    /// <summary>Right-pads the examples to the longest one (see <see cref="InstructionCollator.Collate"/>).</summary>
    public Batch Collate(IReadOnlyList<TokenizedExample> examples) => InstructionCollator.Collate(examples, _pad);

    private TokenizedExample Encode(ConversationExample example)
    {
        var ids = new List<int>();
        var labels = new List<int>();
        foreach (var segment in example.Segments)
        {
            int start = ids.Count;
            EncodeWithSpecials(segment.Text, ids);
            for (int i = start; i < ids.Count; i++) labels.Add(segment.Train ? ids[i] : InstructionCollator.IgnoreIndex);
        }
        return new TokenizedExample(ids.ToArray(), labels.ToArray());
    }

    private TokenizedExample Truncate(TokenizedExample e, out bool truncated)
    {
        truncated = e.Length > Options.MaxLength;
        return truncated ? new TokenizedExample(e.InputIds[..Options.MaxLength], e.Labels[..Options.MaxLength]) : e;
    }

    internal void EncodeWithSpecials(string text, List<int> ids)
    {
        var present = _specials.Where(kv => text.Contains(kv.Key, StringComparison.Ordinal)).ToArray();
        int pos = 0;
        while (pos < text.Length)
        {
            int best = -1, bestId = 0, bestLength = 0;
            foreach (var (token, id) in present)
            {
                int at = text.IndexOf(token, pos, StringComparison.Ordinal);
                if (at >= 0 && (best < 0 || at < best)) (best, bestId, bestLength) = (at, id, token.Length);
            }
            int end = best < 0 ? text.Length : best;
            if (end > pos) ids.AddRange(_encode(text[pos..end]));
            if (best < 0) break;
            ids.Add(bestId);
            pos = best + bestLength;
        }
    }
}
