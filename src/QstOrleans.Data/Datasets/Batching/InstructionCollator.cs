using QstOrleans.Data.Tokenization;

namespace QstOrleans.Data.Datasets;

/// <summary>
/// QLoRA's <c>DataCollatorForCausalLM</c> (spec 1.6) without the tensors: <c>source = &lt;s&gt; + prompt</c>,
/// <c>target = output + &lt;/s&gt;</c>, each truncated on the right separately; <c>input_ids = source ++ target</c>,
/// <c>labels = [-100]·|source| ++ target</c> (loss on the response only); right padding with the pad id,
/// labels -100 and attention 0 on padding.
/// </summary>
/// <remarks>
/// The attention mask is built from positions, not from <c>input_ids ≠ pad</c>: when PAD reuses an existing id
/// (e.g. EOS, spec 7.3) the real trailing EOS must stay visible.
/// Throws <see cref="ArgumentOutOfRangeException"/> for limits below 1, <see cref="ArgumentException"/> for an empty
/// batch or an example whose ids and labels differ in length.
/// </remarks>
public sealed class InstructionCollator
{
    public const int IgnoreIndex = -100;

    private readonly Func<string, IReadOnlyList<int>> _encode;
    private readonly int _bos, _eos, _pad;

    public InstructionCollator(ModelTokenizer tokenizer, CollatorOptions? options = null)
        : this(text => tokenizer.Encode(text), tokenizer.BosId, tokenizer.EosId, tokenizer.PadId, options)
    {
    }

    /// <summary>For tests and other tokenizers: an encoder that adds no BOS/EOS itself.</summary>
    internal InstructionCollator(Func<string, IReadOnlyList<int>> encode, int bosId, int eosId, int padId, CollatorOptions? options)
    {
        Options = options ?? new CollatorOptions();
        if (Options.MaxSourceTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(options), Options.MaxSourceTokens, "MaxSourceTokens must be at least 1 (the BOS).");
        if (Options.MaxTargetTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(options), Options.MaxTargetTokens, "MaxTargetTokens must be at least 1.");
        _encode = encode;
        _bos = bosId;
        _eos = eosId;
        _pad = padId;
    }

    public CollatorOptions Options { get; }

    public TokenizedExample Tokenize(InstructionExample example) => Tokenize(example, out _, out _);

    private TokenizedExample Tokenize(InstructionExample example, out bool sourceCut, out bool targetCut)
    {
        var source = new List<int> { _bos };
        source.AddRange(_encode(example.Source));
        var target = new List<int>(_encode(example.Target)) { _eos };
        sourceCut = source.Count > Options.MaxSourceTokens;
        targetCut = target.Count > Options.MaxTargetTokens;
        int s = Math.Min(source.Count, Options.MaxSourceTokens);
        int t = Math.Min(target.Count, Options.MaxTargetTokens);

        var ids = new int[s + t];
        var labels = new int[s + t];
        for (int i = 0; i < s; i++) { ids[i] = source[i]; labels[i] = IgnoreIndex; }
        for (int i = 0; i < t; i++) { ids[s + i] = target[i]; labels[s + i] = target[i]; }
        return new TokenizedExample(ids, labels);
    }

    /// <summary>Tokenizes a whole dataset and counts truncations (for the run log).</summary>
    public TokenizedDataset TokenizeAll(IEnumerable<InstructionExample> examples)
    {
        var list = new List<TokenizedExample>();
        int sourceCuts = 0, targetCuts = 0;
        foreach (var e in examples)
        {
            list.Add(Tokenize(e, out bool sc, out bool tc));
            if (sc) sourceCuts++;
            if (tc) targetCuts++;
        }
        return new TokenizedDataset(list, sourceCuts, targetCuts);
    }

    /// <summary>Right-pads the examples to the longest one.</summary>
    public Batch Collate(IReadOnlyList<TokenizedExample> examples) => Collate(examples, _pad);

    internal static Batch Collate(IReadOnlyList<TokenizedExample> examples, int padId)
    {
        if (examples.Count == 0) throw new ArgumentException("Cannot collate an empty batch.", nameof(examples));
        int b = examples.Count;
        int t = 0;
        for (int i = 0; i < b; i++)
        {
            if (examples[i].InputIds.Length != examples[i].Labels.Length)
                throw new ArgumentException($"Example {i}: {examples[i].InputIds.Length} input ids but {examples[i].Labels.Length} labels.", nameof(examples));
            t = Math.Max(t, examples[i].InputIds.Length);
        }

        var ids = new long[b * t];    // [B, T]
        var labels = new long[b * t]; // [B, T]
        var mask = new long[b * t];   // [B, T]
        Array.Fill(ids, padId);
        Array.Fill(labels, IgnoreIndex);
        for (int row = 0; row < b; row++)
        {
            var e = examples[row];
            int offset = row * t;
            for (int j = 0; j < e.InputIds.Length; j++)
            {
                ids[offset + j] = e.InputIds[j];
                labels[offset + j] = e.Labels[j];
                mask[offset + j] = 1;
            }
        }
        return new Batch(ids, labels, mask, b, t);
    }
}
