using QstOrleans.Grains.Jobs.Progress;

namespace QstOrleans.Tests.Jobs;

/// <summary>The per-step loss history: append, read from a step, rewind, and chunked storage that rewrites only what changed.</summary>
public sealed class LossHistoryTests
{
    /// <summary>Chunks in a dictionary, with every write logged.</summary>
    sealed class MemoryChunks : ILossChunkStore
    {
        public Dictionary<int, float[]> Chunks { get; } = [];
        public List<int> Writes { get; } = [];
        public TaskCompletionSource? Hold { get; set; }

        public Task<float[]?> ReadAsync(int chunk) => Task.FromResult(Chunks.TryGetValue(chunk, out var c) ? c.ToArray() : null);

        public async Task WriteAsync(int chunk, float[] losses)
        {
            if (Hold is { } hold) await hold.Task;
            Chunks[chunk] = losses.ToArray();
            Writes.Add(chunk);
        }
    }

    static float Loss(int step) => 6f / step + step % 7 * 0.01f;

    [Fact]
    public async Task AppendedStepsAreStoredInChunksAndOnlyTheLastChunkIsRewritten()
    {
        var store = new MemoryChunks();
        var history = new LossHistory(store, chunkSize: 4);
        for (int step = 1; step <= 10; step++) history.Set(step, Loss(step));
        await history.FlushAsync();
        Assert.Equal([0, 1, 2], store.Writes);
        Assert.Equal(10, history.StoredCount);

        store.Writes.Clear();
        history.Set(11, Loss(11));
        await history.FlushAsync();
        await history.FlushAsync();   // nothing changed: no write
        Assert.Equal([2], store.Writes);

        var reloaded = new LossHistory(store, chunkSize: 4);
        await reloaded.LoadAsync(history.StoredCount);
        Assert.Equal(Enumerable.Range(1, 11).Select(Loss), reloaded.Read());
        Assert.Equal(Loss(11), reloaded.Last);
    }

    [Fact]
    public void ReadsFromAStep()
    {
        var history = new LossHistory(new MemoryChunks());
        for (int step = 1; step <= 5; step++) history.Set(step, Loss(step));
        Assert.Equal([Loss(4), Loss(5)], history.Read(4));
        Assert.Equal(5, history.Read(0).Count);
        Assert.Empty(history.Read(6));
        history.Set(8, 1f);   // steps 6 and 7 unknown
        Assert.Equal([float.NaN, float.NaN, 1f], history.Read(6));
        Assert.Throws<ArgumentOutOfRangeException>(() => history.Set(0, 1f));
    }

    [Fact]
    public async Task ARewindTakesTheCheckpointsLossesAndDropsLaterSteps()
    {
        var store = new MemoryChunks();
        var history = new LossHistory(store, chunkSize: 4);
        for (int step = 1; step <= 10; step++) history.Set(step, Loss(step));
        await history.FlushAsync();
        store.Writes.Clear();

        // The checkpoint of step 6 knows step 5's loss, whose report this activation lost (NaN here).
        history.Set(5, float.NaN);
        float[] checkpoint = Enumerable.Range(1, 6).Select(Loss).ToArray();
        history.RewindTo(6, checkpoint);
        Assert.Equal(checkpoint, history.Read());
        history.Set(7, 0.5f);   // the replay recomputes step 7
        await history.FlushAsync();
        Assert.Equal([1], store.Writes);   // chunk 0 is unchanged; chunk 2 lies past the end and is ignored on load
        var reloaded = new LossHistory(store, chunkSize: 4);
        await reloaded.LoadAsync(history.StoredCount);
        Assert.Equal([.. checkpoint, 0.5f], reloaded.Read());
    }

    [Fact]
    public async Task AStepSetWhileAFlushWritesIsStoredByTheNextFlush()
    {
        var store = new MemoryChunks();
        var history = new LossHistory(store, chunkSize: 4);
        history.Set(1, Loss(1));
        store.Hold = new TaskCompletionSource();
        var flushing = history.FlushAsync();
        history.Set(2, Loss(2));   // the grain interleaves a completed step at the flush's await
        store.Hold.SetResult();
        await flushing;
        Assert.Equal(1, history.StoredCount);
        await history.FlushAsync();
        Assert.Equal(2, history.StoredCount);
        Assert.Equal([Loss(1), Loss(2)], store.Chunks[0]);
    }

    [Fact]
    public async Task ImportedLossesOfAnOldRecordAreStoredAtTheNextFlush()
    {
        var store = new MemoryChunks();
        var history = new LossHistory(store, chunkSize: 2);
        history.Import([3f, 2f, 1f]);
        await history.FlushAsync();
        Assert.Equal([3f, 2f], store.Chunks[0]);
        Assert.Equal([1f], store.Chunks[1]);
    }
}
