namespace QstOrleans.Data.Datasets;

/// <summary>How examples are grouped into micro-batches.</summary>
/// <param name="MicroBatchSize">Examples per micro-batch (≥ 1).</param>
/// <param name="GroupByLength">Put examples of similar length together to save padding.</param>
/// <param name="DropLast">Drop the short last micro-batch of each epoch.</param>
public sealed record BatchPlanOptions(int MicroBatchSize, bool GroupByLength = false, bool DropLast = false);

/// <summary>
/// The micro-batches of each epoch as example indices, a pure function of (lengths, seed, options, epoch).
/// </summary>
/// <remarks>
/// <para>Plain: the <see cref="EpochSampler"/> permutation of the epoch cut into consecutive micro-batches.</para>
/// <para>Group-by-length (in the spirit of HF's <c>LengthGroupedSampler</c>, simplified): the epoch's permutation is
/// stably sorted by length, longest first (so equal lengths are grouped differently each epoch), cut into
/// micro-batches ("buckets"), and the bucket order is shuffled with a SplitMix64 stream of (seed, epoch) that is
/// distinct from the sampler's. HF sorts within mega-batches of 50 batches instead of globally.</para>
/// <para>Packing is a separate step before planning (<see cref="SequencePacker"/>); packed blocks all have the same
/// length, so grouping them is pointless but harmless.</para>
/// Throws <see cref="ArgumentOutOfRangeException"/> for a micro-batch size below 1, a negative epoch or length.
/// </remarks>
public sealed class BatchPlanner
{
    private readonly int[] _lengths;
    private readonly EpochSampler _sampler;
    private int _cachedEpoch = -1;
    private IReadOnlyList<int[]> _cached = [];

    public BatchPlanner(IReadOnlyList<int> lengths, int seed, BatchPlanOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MicroBatchSize, 1, nameof(options));
        _lengths = lengths.ToArray();
        foreach (int l in _lengths) ArgumentOutOfRangeException.ThrowIfNegative(l, nameof(lengths));
        _sampler = new EpochSampler(_lengths.Length, seed);
        Options = options;
        Seed = seed;
    }

    public BatchPlanOptions Options { get; }
    public int Seed { get; }
    public int Count => _lengths.Length;
    public int MicroBatchesPerEpoch => _sampler.MicroBatchCount(Options.MicroBatchSize, Options.DropLast);

    /// <summary>The epoch's micro-batches (example indices). The last epoch asked for is cached.</summary>
    public IReadOnlyList<int[]> Plan(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (epoch == _cachedEpoch) return _cached;
        int b = Options.MicroBatchSize;
        int[] order = _sampler.Order(epoch);
        if (Options.GroupByLength)
            order = order.OrderByDescending(i => _lengths[i]).ToArray(); // LINQ's sort is stable
        var batches = new List<int[]>(MicroBatchesPerEpoch);
        for (int k = 0; k < MicroBatchesPerEpoch; k++)
            batches.Add(order[(k * b)..Math.Min((k + 1) * b, order.Length)]);
        if (Options.GroupByLength)
        {
            // A distinct stream: flip the top bit of the sampler's (seed, epoch) state.
            var rng = new SplitMix64((((ulong)(uint)Seed << 32) | (uint)epoch) ^ 0x8000_0000_0000_0000UL);
            for (int i = batches.Count - 1; i > 0; i--)
            {
                int j = (int)(rng.Next() % (ulong)(i + 1));
                (batches[i], batches[j]) = (batches[j], batches[i]);
            }
        }
        _cachedEpoch = epoch;
        _cached = batches;
        return batches;
    }
}
