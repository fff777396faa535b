namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>
/// The loss of every completed optimizer step of a job (index = step − 1), kept in memory and persisted beside the job
/// record in fixed-size chunks (<see cref="ILossChunkStore"/>), so the record stays small however long the run.
/// Steps are appended as they complete. A recovery rewinds to its checkpoint's step (the checkpoint's own losses fill
/// the steps up to it) and the replayed steps are appended again. <see cref="FlushAsync"/> writes only the chunks
/// changed since the last flush: in a steady run, just the last one.
/// </summary>
/// <remarks>Threading: not thread-safe; the job grain calls it from its turns only.</remarks>
public sealed class LossHistory(ILossChunkStore store, int chunkSize = 256)
{
    readonly List<float> _losses = [];
    int _cleanCount;   // leading entries stored unchanged since the last flush

    public int ChunkSize { get; } = chunkSize >= 1 ? chunkSize : throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "must be >= 1");

    /// <summary>Steps with a known loss (unknown ones in between are NaN).</summary>
    public int Count => _losses.Count;

    /// <summary>How many entries the store held after the last successful flush (recorded in the job record).</summary>
    public int StoredCount { get; private set; }

    public float Last => _losses.Count > 0 ? _losses[^1] : float.NaN;

    /// <summary>Sets the loss of <paramref name="step"/> (1-based): normally the next one; earlier unknown steps become NaN.</summary>
    public void Set(int step, float loss)
    {
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), step, "steps are 1-based");
        while (_losses.Count < step) _losses.Add(float.NaN);
        _losses[step - 1] = loss;
        _cleanCount = Math.Min(_cleanCount, step - 1);
    }

    /// <summary>
    /// Rewinds to <paramref name="step"/> after a recovery: later steps are dropped (they are recomputed), and the
    /// steps up to it take the losses saved with the checkpoint (<paramref name="checkpointLosses"/>, index = step − 1),
    /// because a fault can drop the last reports before the checkpoint of their step.
    /// </summary>
    public void RewindTo(int step, IReadOnlyList<float> checkpointLosses)
    {
        if (_losses.Count > step)
        {
            _losses.RemoveRange(step, _losses.Count - step);
            _cleanCount = Math.Min(_cleanCount, step);
        }
        for (int i = 0; i < checkpointLosses.Count && i < step; i++)
        {
            if (i < _losses.Count && _losses[i].Equals(checkpointLosses[i])) continue;
            Set(i + 1, checkpointLosses[i]);
        }
    }

    /// <summary>The losses of steps <paramref name="fromStep"/> (1-based) onwards; empty past the end.</summary>
    public IReadOnlyList<float> Read(int fromStep = 1)
    {
        int from = Math.Max(fromStep, 1) - 1;
        return from >= _losses.Count ? [] : _losses.GetRange(from, _losses.Count - from);
    }

    /// <summary>Loads the first <paramref name="count"/> stored losses (missing entries become NaN).</summary>
    public async Task LoadAsync(int count)
    {
        _losses.Clear();
        for (int chunk = 0; chunk * ChunkSize < count; chunk++)
        {
            var stored = await store.ReadAsync(chunk) ?? [];
            int want = Math.Min(ChunkSize, count - chunk * ChunkSize);
            for (int i = 0; i < want; i++) _losses.Add(i < stored.Length ? stored[i] : float.NaN);
        }
        _cleanCount = StoredCount = _losses.Count;
    }

    /// <summary>Takes over losses kept elsewhere (a job record written before the history existed); they are stored at the next flush.</summary>
    public void Import(IReadOnlyList<float> losses)
    {
        for (int i = 0; i < losses.Count; i++) Set(i + 1, losses[i]);
    }

    /// <summary>
    /// Writes the chunks changed since the last flush; the store's errors are thrown and the next flush retries. Steps
    /// set while it writes (the grain interleaves at its awaits) stay dirty for the next flush.
    /// </summary>
    public async Task FlushAsync()
    {
        int count = _losses.Count, dirtyFrom = Math.Min(_cleanCount, count);
        if (dirtyFrom == count && StoredCount == count) return;
        _cleanCount = count;   // Set and RewindTo lower it again for what they change meanwhile
        try
        {
            for (int chunk = dirtyFrom / ChunkSize; chunk * ChunkSize < count; chunk++)
            {
                int start = chunk * ChunkSize, end = Math.Min(Math.Min(start + ChunkSize, count), _losses.Count);
                if (end <= start) break;   // rewound meanwhile
                await store.WriteAsync(chunk, _losses.GetRange(start, end - start).ToArray());
            }
            StoredCount = Math.Min(count, _losses.Count);
        }
        catch
        {
            _cleanCount = Math.Min(_cleanCount, dirtyFrom);
            throw;
        }
    }
}
