using QstOrleans.Grains.Jobs.Progress;

namespace QstOrleans.Tests.Jobs;

/// <summary>
/// The per-step metrics a job grain keeps (<see cref="StepMetricsHistory"/>) survive a new activation: flushed in chunks like the
/// loss history (only changed chunks written), loaded back with every step's grad norm, lr, epoch and evaluation; unknown
/// values stay unknown.
/// </summary>
public sealed class StepMetricsHistoryTests
{
    sealed class MemoryStore : IStepMetricsStore
    {
        public Dictionary<int, StepMetricsChunk> Chunks { get; } = [];
        public List<int> Writes { get; } = [];
        public Task<StepMetricsChunk?> ReadAsync(int chunk) => Task.FromResult(Chunks.GetValueOrDefault(chunk));
        public Task WriteAsync(int chunk, StepMetricsChunk metrics)
        {
            Writes.Add(chunk);
            Chunks[chunk] = metrics;
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task MetricsFlushedInChunksLoadBackIntoANewHistory()
    {
        var store = new MemoryStore();
        var history = new StepMetricsHistory(store, chunkSize: 3);
        for (int step = 1; step <= 7; step++)
        {
            var evaluation = step % 2 == 0 ? new JobEvaluation(step, 1.0 / step, Math.Exp(1.0 / step), step / 10.0) : null;
            history.Set(step, step == 5 ? null : new StepMetrics(0.1 * step, evaluation), learningRate: 1e-3 * step, epoch: step / 4);
        }
        await history.FlushAsync();
        Assert.Equal([0, 1, 2], store.Writes);
        history.Set(8, new StepMetrics(0.8), 8e-3, 2);
        await history.FlushAsync();
        Assert.Equal([0, 1, 2, 2], store.Writes);   // only the chunk that changed

        var loaded = new StepMetricsHistory(store, chunkSize: 3);
        await loaded.LoadAsync(8);
        for (int step = 1; step <= 8; step++)
        {
            Assert.Equal(step == 5 ? null : 0.1 * step, loaded.GradNorm(step));
            Assert.Equal(1e-3 * step, loaded.LearningRate(step));
            Assert.Equal(step / 4, loaded.Epoch(step));
            Assert.Equal(step % 2 == 0 && step < 8 ? new JobEvaluation(step, 1.0 / step, Math.Exp(1.0 / step), step / 10.0) : null, loaded.Evaluation(step));
        }
        Assert.Equal(6, loaded.Latest!.Step);
        Assert.Null(loaded.GradNorm(9));
        Assert.Null(loaded.LearningRate(9));
    }
}
