using QstOrleans.Data.Tokenization;

namespace QstOrleans.Data.Datasets;

/// <summary>
/// A tokenized instruction dataset cut into micro-batches in the seeded epoch order: micro-batch
/// (epoch e, index i) holds examples order_e[i·B .. i·B + B) (a partial last micro-batch is dropped).
/// The single-process trainer and the distributed job both read batches through this class, so they
/// see the same data in the same order, and any (epoch, index) can be produced on its own (resume).
/// </summary>
public sealed class InstructionBatches
{
    readonly InstructionCollator _collator;
    readonly IReadOnlyList<TokenizedExample> _examples;
    readonly EpochSampler _sampler;
    readonly Dictionary<int, int[]> _orders = new();

    InstructionBatches(InstructionCollator collator, IReadOnlyList<TokenizedExample> examples, int microBatchSize, int seed, string summary)
    {
        _collator = collator;
        _examples = examples;
        MicroBatchSize = microBatchSize;
        _sampler = new EpochSampler(examples.Count, seed);
        Summary = summary;
    }

    public int MicroBatchSize { get; }
    public int ExampleCount => _examples.Count;
    /// <summary>Full micro-batches per epoch.</summary>
    public int MicroBatchesPerEpoch => _examples.Count / MicroBatchSize;
    /// <summary>What the loader kept and dropped, and what the collator truncated.</summary>
    public string Summary { get; }
    /// <summary>The tokenized examples in file order.</summary>
    public IReadOnlyList<TokenizedExample> Examples => _examples;
    /// <summary>The collator the micro-batches are padded with (reused for validation batches).</summary>
    public InstructionCollator Collator => _collator;

    /// <summary>
    /// The same data restricted to the examples whose file-order index <paramref name="keep"/> accepts, with the same
    /// micro-batch size and seed (the epoch order is drawn over the kept examples): holds out a validation split.
    /// </summary>
    public InstructionBatches Where(Func<int, bool> keep, string summary) =>
        new(_collator, _examples.Where((_, i) => keep(i)).ToList(), MicroBatchSize, _sampler.Seed, summary);

    /// <summary>Loads an Alpaca file (errors name the file and line) and tokenizes it.</summary>
    public static InstructionBatches Load(string dataFile, ModelTokenizer tokenizer, CollatorOptions options, int microBatchSize, int seed)
    {
        if (microBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(microBatchSize), "micro-batch size must be >= 1");
        var loaded = AlpacaDataset.LoadWithReport(dataFile);
        var collator = new InstructionCollator(tokenizer, options);
        var dataset = collator.TokenizeAll(loaded.Examples);
        return new InstructionBatches(collator, dataset.Examples, microBatchSize, seed,
            $"{Path.GetFileName(dataFile)}: {loaded.Summary}; {dataset.Summary}");
    }

    /// <summary>Micro-batch <paramref name="index"/> of <paramref name="epoch"/>.</summary>
    public Batch Get(int epoch, int index)
    {
        if (index < 0 || index >= MicroBatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(index), $"epoch has {MicroBatchesPerEpoch} micro-batches");
        if (!_orders.TryGetValue(epoch, out var order))
        {
            order = _sampler.Order(epoch);
            _orders[epoch] = order;
        }
        var rows = new TokenizedExample[MicroBatchSize];
        for (int i = 0; i < MicroBatchSize; i++) rows[i] = _examples[order[index * MicroBatchSize + i]];
        return _collator.Collate(rows);
    }
}
