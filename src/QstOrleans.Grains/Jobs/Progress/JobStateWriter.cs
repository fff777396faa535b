using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>
/// Writes a job's durable state: the changed loss-history and step-metrics chunks, then the <see cref="JobRecord"/> naming how
/// many steps are stored. One write at a time (the grain interleaves, and storage ETags allow no overlapping writes). A storage error
/// is logged, not thrown: the job goes on and the next write retries.
/// </summary>
internal sealed class JobStateWriter(IPersistentState<JobRecord> state, LossHistory losses, ILogger log, string jobId, StepMetricsHistory? metrics = null)
{
    readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>Loads the loss history <paramref name="record"/> names from the job's storage (importing an old record's losses),
    /// and the step metrics stored for those steps.</summary>
    public static async Task<(LossHistory Losses, StepMetricsHistory Metrics)> OpenHistoryAsync(IGrainStorage storage, GrainId job, JobRecord record)
    {
        var losses = new LossHistory(new GrainStorageLossChunks(storage, job));
        await losses.LoadAsync(record.LossCount);
        if (record.Losses.Count > 0 && record.LossCount == 0) losses.Import(record.Losses);   // written before the history existed
        var metrics = new StepMetricsHistory(new GrainStorageMetricsChunks(storage, job));
        await metrics.LoadAsync(record.LossCount);
        return (losses, metrics);
    }

    public async Task WriteAsync()
    {
        await _lock.WaitAsync();
        try
        {
            try { await losses.FlushAsync(); }
            catch (Exception e) { log.LogWarning(e, "job {Job}: persisting the loss history failed: {Message}", jobId, e.Message); }
            try { if (metrics is not null) await metrics.FlushAsync(); }
            catch (Exception e) { log.LogWarning(e, "job {Job}: persisting the step metrics failed: {Message}", jobId, e.Message); }
            state.State.LossCount = losses.StoredCount;
            if (state.State.LossCount == losses.Count) state.State.Losses.Clear();   // imported from an old record and now stored
            await state.WriteStateAsync();
        }
        catch (Exception e)
        {
            log.LogWarning(e, "job {Job}: persisting the job state failed: {Message}", jobId, e.Message);
        }
        finally
        {
            _lock.Release();
        }
    }
}
