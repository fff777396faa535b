using QstOrleans.Data.Datasets.Cache;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Data.Datasets;

/// <summary>
/// A training file in any <see cref="DatasetFormat"/>, tokenized and cut into micro-batches in the seeded epoch
/// order. The single-process trainer and the distributed job both read batches through this class, so they see the
/// same data in the same order, and any (epoch, index) can be produced on its own (resume).
/// </summary>
/// <remarks>
/// <para>Pipeline: <see cref="DatasetLoader"/> (format detected unless given; its kept/dropped report goes into
/// <see cref="Summary"/>) → <see cref="PromptRenderer"/> + <see cref="SegmentCollator"/> (the chat template comes
/// from the model directory's <c>tokenizer_config.json</c> when there is one) → truncation → optional
/// <see cref="SequencePacker"/> → <see cref="BatchPlanner"/> (plain or group-by-length, partial last micro-batch
/// dropped).</para>
/// <para>Truncation: Alpaca examples are cut as QLoRA's collator cuts them - prompt (with BOS) to
/// <see cref="DataOptions.MaxSourceTokens"/>, response (with EOS) to <see cref="DataOptions.MaxTargetTokens"/> - and
/// then to <see cref="DataOptions.MaxLength"/> when one is given; other formats are cut on the right to
/// <see cref="DataOptions.EffectiveMaxLength"/>. An example left with no trained token is dropped and counted.</para>
/// <para>Compatibility: for Alpaca data without packing or grouping the micro-batches are exactly those of
/// <see cref="InstructionCollator"/> over the <see cref="EpochSampler"/> order: micro-batch (e, i) holds examples
/// order_e[i·B .. i·B + B).</para>
/// <para>Errors: <see cref="DataFormatException"/> (file:line) from the loader; <see cref="ArgumentException"/> for
/// bad options or when packing leaves no block; <see cref="ArgumentOutOfRangeException"/> for a micro-batch size
/// below 1 or an index outside the epoch.</para>
/// </remarks>
public sealed class InstructionBatches
{
    readonly IReadOnlyList<TokenizedExample> _units; // what micro-batches are made of: examples, or packed blocks
    readonly BatchPlanner _planner;
    readonly string _source;

    InstructionBatches(IReadOnlyList<TokenizedExample> examples, DataOptions options, int microBatchSize, int seed, int padId, int eosId,
        string source, string summary)
    {
        Examples = examples;
        Options = options;
        MicroBatchSize = microBatchSize;
        Seed = seed;
        PadId = padId;
        EosId = eosId;
        _source = source;
        if (options.Pack)
        {
            var packed = SequencePacker.Pack(examples, options.EffectiveMaxLength, eosId, dropRemainder: true);
            if (packed.Blocks.Count == 0)
                throw new ArgumentException($"{source}: packing into blocks of {options.EffectiveMaxLength} tokens left no block " +
                                            $"({examples.Sum(e => e.Length)} tokens in {examples.Count} examples); lower --max-length");
            _units = packed.Blocks;
            summary += $"; packed: {packed.Summary}";
        }
        else _units = examples;
        int[] lengths = _units is Cache.MappedExamples mapped ? mapped.Lengths() : _units.Select(u => u.Length).ToArray();  // a cache hit copies no example
        _planner = new BatchPlanner(lengths, seed, new BatchPlanOptions(microBatchSize, options.GroupByLength, DropLast: true));
        if (options.GroupByLength) summary += "; grouped by length";
        Summary = summary;
    }

    public DataOptions Options { get; }
    public int MicroBatchSize { get; }
    public int Seed { get; }
    public int PadId { get; }
    public int EosId { get; }
    /// <summary>Tokenized examples (before packing).</summary>
    public int ExampleCount => Examples.Count;
    /// <summary>What the micro-batches are cut from: <see cref="ExampleCount"/>, or the number of packed blocks.</summary>
    public int RowCount => _units.Count;
    /// <summary>Full micro-batches per epoch.</summary>
    public int MicroBatchesPerEpoch => _planner.MicroBatchesPerEpoch;
    /// <summary>What the loader kept and dropped, what tokenization truncated and dropped, and packing.</summary>
    public string Summary { get; }
    /// <summary>The tokenized examples in file order, before packing.</summary>
    public IReadOnlyList<TokenizedExample> Examples { get; }

    /// <summary>
    /// True when the examples are known to hold only ids in [0, <paramref name="vocabSize"/>) (labels: or -100) without
    /// copying them: a token-cache hit scans its mapped ids in one pass. False = not proven, check example by example.
    /// </summary>
    public bool IdsProvenBelow(int vocabSize) => Examples is Cache.MappedExamples mapped && mapped.AllIdsBelow(vocabSize);

    /// <summary>Right-pads examples into one batch with this data's pad id (validation batches).</summary>
    public Batch Collate(IReadOnlyList<TokenizedExample> examples) => InstructionCollator.Collate(examples, PadId);

    /// <summary>
    /// The same data restricted to the examples whose file-order index <paramref name="keep"/> accepts, with the same
    /// options, micro-batch size and seed (the epoch order is drawn over what is kept, re-packed when packing): holds
    /// out a validation split.
    /// </summary>
    public InstructionBatches Where(Func<int, bool> keep, string summary) =>
        new(Examples.Where((_, i) => keep(i)).ToList(), Options, MicroBatchSize, Seed, PadId, EosId, _source, summary);

    /// <summary>Loads an Alpaca file with QLoRA's source/target limits (the original entry point).</summary>
    public static InstructionBatches Load(string dataFile, ModelTokenizer tokenizer, CollatorOptions options, int microBatchSize, int seed) =>
        Load(dataFile, tokenizer, new DataOptions(MaxSourceTokens: options.MaxSourceTokens, MaxTargetTokens: options.MaxTargetTokens),
            microBatchSize, seed, modelDirectory: null);

    /// <summary>Loads a data file in any format (errors name the file and line) and tokenizes it (on every core).</summary>
    /// <param name="modelDirectory">Where to read the chat template (<c>tokenizer_config.json</c>); null = the plain template.</param>
    /// <param name="cache">The token cache to read or fill (<see cref="TokenCache"/>); null = none, tokenize every time.</param>
    public static InstructionBatches Load(string dataFile, ModelTokenizer tokenizer, DataOptions options, int microBatchSize, int seed,
        string? modelDirectory, TokenCacheOptions? cache = null)
    {
        if (microBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(microBatchSize), "micro-batch size must be >= 1");
        options.Validate();
        var template = ChatTemplateChoice.Resolve(options.ChatTemplate, modelDirectory, tokenizer.BosToken, tokenizer.EosToken);
        var tokenized = TokenCache.Load(dataFile, tokenizer, template, modelDirectory, options, cache ?? TokenCacheOptions.Off);
        return new InstructionBatches(tokenized.Examples, options, microBatchSize, seed, tokenizer.PadId, tokenizer.EosId, dataFile,
            tokenized.Summary);
    }

    /// <summary>Micro-batch <paramref name="index"/> of <paramref name="epoch"/>.</summary>
    public Batch Get(int epoch, int index)
    {
        if (index < 0 || index >= MicroBatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(index), $"epoch has {MicroBatchesPerEpoch} micro-batches");
        var rows = _planner.Plan(epoch)[index];
        return Collate(rows.Select(i => _units[i]).ToList());
    }

    /// <summary>Tokenizes every record and applies the truncation rules (see the class remarks).</summary>
    internal static TokenizationReport Tokenize(IEnumerable<DatasetRecord> records, SegmentCollator collator, DataOptions options)
    {
        var kept = new List<TokenizedExample>();
        var dropped = new List<DroppedRecord>();
        int truncated = 0;
        foreach (var record in records)
        {
            var e = collator.Tokenize(record); // untruncated: the collator's limit is int.MaxValue
            bool cut = false;
            if (record is InstructionRecord)
                e = TruncateSourceTarget(e, options.MaxSourceTokens, options.MaxTargetTokens, ref cut);
            int limit = record is InstructionRecord ? options.MaxLength : options.EffectiveMaxLength;
            if (limit > 0 && e.Length > limit)
            {
                e = new TokenizedExample(e.InputIds[..limit], e.Labels[..limit]);
                cut = true;
            }
            if (cut) truncated++;
            if (e.Labels.All(l => l == InstructionCollator.IgnoreIndex))
                dropped.Add(new DroppedRecord(record.File, record.Line, cut ? "no trained token left after truncation" : "no trained token"));
            else
                kept.Add(e);
        }
        return new TokenizationReport(kept, truncated, dropped);
    }

    /// <summary>
    /// QLoRA's separate limits: the untrained prefix (BOS + prompt) is the source, the rest (response + EOS) the target;
    /// each is cut on the right.
    /// </summary>
    static TokenizedExample TruncateSourceTarget(TokenizedExample e, int maxSource, int maxTarget, ref bool cut)
    {
        int source = Array.FindIndex(e.Labels, l => l != InstructionCollator.IgnoreIndex);
        if (source < 0) source = e.Length;
        int target = e.Length - source;
        int s = Math.Min(source, maxSource), t = Math.Min(target, maxTarget);
        if (s == source && t == target) return e;
        cut = true;
        int[] ids = [.. e.InputIds[..s], .. e.InputIds[source..(source + t)]];
        int[] labels = [.. e.Labels[..s], .. e.Labels[source..(source + t)]];
        return new TokenizedExample(ids, labels);
    }
}
