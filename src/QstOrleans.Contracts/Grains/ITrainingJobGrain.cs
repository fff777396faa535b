using Orleans.Concurrency;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Contracts.Grains;

/// <summary>
/// Coordinates one training run (key = job id): validates the spec, plans the stages over the cluster's
/// device slots, streams micro-batches through the pipeline with a bounded window, and publishes progress.
/// </summary>
public interface ITrainingJobGrain : IGrainWithStringKey
{
    /// <summary>Starts the job. A bad spec fails the job (State = Failed, Message says why); it never throws.</summary>
    [ResponseTimeout("00:10:00")]
    Task<JobProgress> Start(JobSpec spec);

    Task<JobProgress> GetProgress();

    Task Pause();

    Task Resume();

    Task Cancel();

    /// <summary>Called by the side trainer when micro-batch <paramref name="sequence"/> has been applied.</summary>
    [OneWay]
    Task MicroBatchApplied(long sequence, int step, float stepLoss, bool stepCompleted);

    /// <summary>Called by a stage or the side trainer when the job's work failed.</summary>
    [OneWay]
    Task Fail(string message);
}
