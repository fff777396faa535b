namespace QstOrleans.Data.Datasets;

/// <summary>A collated micro-batch, its id in the stream and the example indices it holds.</summary>
public sealed record PlannedMicroBatch(DataCursor Id, int[] ExampleIndices, Batch Batch);

/// <summary>
/// Yields collated micro-batches in the <see cref="BatchPlanner"/> order, from any <see cref="DataCursor"/>: starting at
/// cursor k gives exactly the tail of the run that started at (0, 0), because each epoch's plan depends only on
/// (seed, epoch).
/// </summary>
/// <remarks>
/// Cursor (e, n) with n = micro-batches per epoch is the same as (e + 1, 0). Throws
/// <see cref="ArgumentOutOfRangeException"/> for a negative cursor or an index past the epoch's end,
/// <see cref="InvalidOperationException"/> for a dataset with no micro-batch.
/// </remarks>
public sealed class MicroBatchStream
{
    private readonly IReadOnlyList<TokenizedExample> _examples;
    private readonly int _padId;

    public MicroBatchStream(IReadOnlyList<TokenizedExample> examples, int padId, int seed, BatchPlanOptions options)
    {
        _examples = examples;
        _padId = padId;
        Planner = new BatchPlanner(examples.Select(e => e.Length).ToArray(), seed, options);
    }

    public BatchPlanner Planner { get; }

    /// <summary>The cursor after <paramref name="cursor"/>.</summary>
    public DataCursor Next(DataCursor cursor) =>
        cursor.Index + 1 >= Planner.MicroBatchesPerEpoch ? new DataCursor(cursor.Epoch + 1, 0) : cursor with { Index = cursor.Index + 1 };

    /// <summary>Micro-batches from <paramref name="start"/> up to the end of epoch <c>endEpoch - 1</c> (null: forever).</summary>
    public IEnumerable<PlannedMicroBatch> Read(DataCursor start, int? endEpoch = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start.Epoch, nameof(start));
        ArgumentOutOfRangeException.ThrowIfNegative(start.Index, nameof(start));
        int perEpoch = Planner.MicroBatchesPerEpoch;
        if (perEpoch == 0) throw new InvalidOperationException("The dataset yields no micro-batch (empty, or smaller than one micro-batch with DropLast).");
        if (start.Index > perEpoch)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"An epoch has only {perEpoch} micro-batches.");
        return Iterate(start.Index == perEpoch ? new DataCursor(start.Epoch + 1, 0) : start, endEpoch);
    }

    private IEnumerable<PlannedMicroBatch> Iterate(DataCursor cursor, int? endEpoch)
    {
        while (endEpoch is null || cursor.Epoch < endEpoch)
        {
            int[] indices = Planner.Plan(cursor.Epoch)[cursor.Index];
            var batch = InstructionCollator.Collate(indices.Select(i => _examples[i]).ToList(), _padId);
            yield return new PlannedMicroBatch(cursor, indices, batch);
            cursor = Next(cursor);
        }
    }
}
