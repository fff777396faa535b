using System.Diagnostics;
using QstOrleans.Grains.Jobs.Pipeline;

namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>
/// What a job activation knows about its progress beyond the record - the loss history, the epoch, tokens applied
/// over all its attempts, the side trainer's silo - and the <see cref="JobProgress"/> snapshot clients get from it.
/// </summary>
/// <remarks>Threading: not thread-safe; the job grain calls it from its turns only.</remarks>
internal sealed class JobProgressTracker(LossHistory losses)
{
    readonly Stopwatch _clock = Stopwatch.StartNew();
    long _tokensOfEndedRuns;

    public LossHistory Losses => losses;
    public int Epoch { get; set; }
    public string? SideSilo { get; set; }
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>An attempt ended: its applied tokens keep counting towards the throughput.</summary>
    public void RunEnded(PipelineFeeder feeder) => _tokensOfEndedRuns += feeder.TokensApplied;

    public JobProgress Snapshot(string jobId, JobRecord record, PipelineRun? run, string jobSilo) => new()
    {
        JobId = jobId,
        State = record.State,
        Step = record.Step,
        TotalSteps = record.TotalSteps,
        Epoch = Epoch,
        Loss = losses.Last,
        TokensPerSecond = (_tokensOfEndedRuns + (run?.Feeder.TokensApplied ?? 0)) / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9),
        Message = record.Message,
        Losses = losses.Read(),
        Placement = run is null ? new Dictionary<string, string>()
            : run.Plan.StageKeys.Select((key, i) => (key, run.Plan.Stages[i].Slot.Id)).ToDictionary(x => x.key, x => x.Id),
        JobSilo = jobSilo,
        SideSilo = SideSilo,
        Attempt = record.Attempt,
        LastCheckpointStep = record.CheckpointStep,
        Recoveries = record.Recoveries.ToList(),
        Error = record.Error,
    };
}
