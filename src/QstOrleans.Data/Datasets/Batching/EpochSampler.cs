namespace QstOrleans.Data.Datasets;

/// <summary>
/// Deterministic example order per epoch, independent of .NET's <see cref="Random"/>:
/// a SplitMix64 stream seeded with <c>((ulong)(uint)seed &lt;&lt; 32) | (uint)epoch</c> drives a Fisher–Yates
/// shuffle (for i = n-1 down to 1: j = next() mod (i+1), swap i and j). The modulo bias is below 2^-32 for any
/// dataset that fits in an int. A resumed run only needs (seed, epoch, position in epoch).
/// </summary>
/// <remarks>Throws <see cref="ArgumentOutOfRangeException"/> for a negative count, epoch or non-positive batch size.</remarks>
public sealed class EpochSampler
{
    public EpochSampler(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
        Seed = seed;
    }

    public int Count { get; }
    public int Seed { get; }

    /// <summary>The permutation of 0..Count-1 for <paramref name="epoch"/>.</summary>
    public int[] Order(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        var order = new int[Count];
        for (int i = 0; i < Count; i++) order[i] = i;
        var rng = new SplitMix64(((ulong)(uint)Seed << 32) | (uint)epoch);
        for (int i = Count - 1; i > 0; i--)
        {
            int j = (int)(rng.Next() % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>Number of micro-batches per epoch.</summary>
    public int MicroBatchCount(int microBatchSize, bool dropLast = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(microBatchSize);
        return dropLast ? Count / microBatchSize : (Count + microBatchSize - 1) / microBatchSize;
    }

    /// <summary>The epoch's order cut into micro-batches of example indices (the last may be short unless dropped).</summary>
    public IEnumerable<int[]> MicroBatches(int epoch, int microBatchSize, bool dropLast = false)
    {
        int n = MicroBatchCount(microBatchSize, dropLast);
        int[] order = Order(epoch);
        for (int k = 0; k < n; k++)
        {
            int start = k * microBatchSize;
            yield return order[start..Math.Min(start + microBatchSize, Count)];
        }
    }
}

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014; Vigna's reference constants): state += 0x9E3779B97F4A7C15, then two
/// xor-shift-multiply rounds. Seed 0 gives 0xE220A8397B1DCDAF first.
/// </summary>
internal struct SplitMix64(ulong state)
{
    private ulong _state = state;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform-ish int in [0, exclusiveMax): next() mod exclusiveMax.</summary>
    public int NextInt(int exclusiveMax) => (int)(Next() % (ulong)exclusiveMax);
}
