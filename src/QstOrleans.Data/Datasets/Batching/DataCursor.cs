namespace QstOrleans.Data.Datasets;

/// <summary>
/// A position in the micro-batch stream: micro-batch <see cref="Index"/> of epoch <see cref="Epoch"/> (both from 0).
/// Persisting it (with the seed and plan options) is enough to resume the data order exactly.
/// </summary>
public readonly record struct DataCursor(int Epoch, int Index)
{
    public static DataCursor Start => new(0, 0);

    public override string ToString() => $"epoch {Epoch}, micro-batch {Index}";
}
