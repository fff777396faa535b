namespace QstOrleans.Data.Datasets;

/// <summary>Record indices of a train/validation split, each ascending (file order kept), disjoint.</summary>
public sealed record SplitIndices(int[] Train, int[] Validation)
{
    public IReadOnlyList<T> TrainOf<T>(IReadOnlyList<T> items) => Train.Select(i => items[i]).ToList();
    public IReadOnlyList<T> ValidationOf<T>(IReadOnlyList<T> items) => Validation.Select(i => items[i]).ToList();
}

/// <summary>
/// <c>--val-fraction</c>: a deterministic train/validation split of a dataset's records. (A separate validation file
/// needs no split: load it with <see cref="DatasetLoader"/>.)
/// </summary>
/// <remarks>
/// A SplitMix64 Fisher–Yates permutation seeded with the bitwise complement of <c>(seed &lt;&lt; 32)</c> - a state
/// no <see cref="EpochSampler"/> epoch reaches - picks the validation records: the first
/// <c>round(fraction · count)</c> of the permutation, at least 1 and at most count - 1. Split the records before
/// tokenization so that an example is never in both sets. Throws <see cref="ArgumentOutOfRangeException"/> for a
/// fraction outside [0, 1) and <see cref="ArgumentException"/> for a positive fraction with fewer than 2 records.
/// </remarks>
public static class DatasetSplit
{
    public static SplitIndices Split(int count, double validationFraction, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "The validation fraction must be in [0, 1).");
        if (validationFraction == 0) return new SplitIndices(Enumerable.Range(0, count).ToArray(), []);
        if (count < 2) throw new ArgumentException($"A validation split needs at least 2 records, got {count}.", nameof(count));

        int validation = Math.Clamp((int)Math.Round(validationFraction * count, MidpointRounding.AwayFromZero), 1, count - 1);
        var order = Enumerable.Range(0, count).ToArray();
        var rng = new SplitMix64(~((ulong)(uint)seed << 32));
        for (int i = count - 1; i > 0; i--)
        {
            int j = (int)(rng.Next() % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        var val = order[..validation];
        var train = order[validation..];
        Array.Sort(val);
        Array.Sort(train);
        return new SplitIndices(train, val);
    }
}
