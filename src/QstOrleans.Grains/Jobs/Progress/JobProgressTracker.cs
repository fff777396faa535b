using System.Diagnostics;
using QstOrleans.Grains.Jobs.Clients;
using QstOrleans.Grains.Jobs.Pipeline;

namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>
/// What a job activation knows about its progress beyond the record - the loss history, the epoch, tokens applied
/// over all its attempts, the side trainer's silo - the <see cref="JobProgress"/> snapshot clients get from it, and the
/// <see cref="JobEventHub"/> that pushes its steps and state changes to watching clients.
/// </summary>
/// <remarks>Threading: not thread-safe; the job grain calls it from its turns only.</remarks>
internal sealed class JobProgressTracker(LossHistory losses, JobRecord activated, StepMetricsHistory? metrics = null)
{
    readonly Stopwatch _clock = Stopwatch.StartNew();
    long _tokensOfEndedRuns;
    /// <summary>Grad norm, lr, epoch and evaluation of each step (persisted beside the losses: see <see cref="StepMetricsHistory"/>).</summary>
    readonly StepMetricsHistory _metrics = metrics ?? new();

    public LossHistory Losses => losses;
    public JobEventHub Events { get; } = new(activated);
    public int Epoch { get; set; }
    public string? SideSilo { get; set; }
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>An attempt ended: its applied tokens keep counting towards the throughput.</summary>
    public void RunEnded(PipelineFeeder feeder) => _tokensOfEndedRuns += feeder.TokensApplied;

    /// <summary>
    /// Micro-batch <paramref name="sequence"/> of <paramref name="run"/> was applied: a completed step goes into the loss
    /// history and out as an event. (A paused job's quiescence is published by the grain once the record is stored.)
    /// </summary>
    public void Applied(JobRecord job, PipelineRun run, long sequence, int step, float loss, bool stepCompleted, StepMetrics? metrics = null)
    {
        if (stepCompleted)
        {
            losses.Set(step, loss);
            Epoch = (int)(sequence / run.Plan.MicroBatchesPerEpoch);
            _metrics.Set(step, metrics, run.Plan.LrSchedule.At(step - 1), Epoch);
            Events.StepCompleted(new JobStepCompleted(step, run.Plan.TotalSteps, Epoch, loss, run.Plan.LrSchedule.At(step - 1), _metrics.GradNorm(step),
                metrics?.Evaluation?.ValidationLoss, TokensPerSecond(run), metrics?.Evaluation, metrics?.Skipped));
        }
    }

    /// <summary>The steps after <paramref name="afterStep"/> as events, from the loss and metrics histories (lr and epoch from the
    /// plan when the activation has one, else as stored with the step).</summary>
    public IEnumerable<JobStepCompleted> History(int afterStep, JobRecord job, JobPlan? plan)
    {
        var after = losses.Read(afterStep + 1);
        for (int i = 0; i < after.Count; i++)
        {
            int step = afterStep + 1 + i;
            if (float.IsNaN(after[i])) continue;   // unknown (dropped before a checkpoint, recomputed later)
            yield return new JobStepCompleted(step, job.TotalSteps,
                plan is null ? _metrics.Epoch(step) : (int)(((long)step * plan.Spec.GradientAccumulation - 1) / Math.Max(1, plan.MicroBatchesPerEpoch)),
                after[i], plan?.LrSchedule.At(step - 1) ?? _metrics.LearningRate(step) ?? double.NaN, _metrics.GradNorm(step), _metrics.Evaluation(step)?.ValidationLoss, 0,
                _metrics.Evaluation(step), _metrics.Skipped(step));
        }
    }

    double TokensPerSecond(PipelineRun? run) =>
        (_tokensOfEndedRuns + (run?.Feeder.TokensApplied ?? 0)) / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);

    public JobProgress Snapshot(string jobId, JobRecord record, PipelineRun? run, string jobSilo) => new()
    {
        JobId = jobId,
        State = record.State,
        Step = record.Step,
        TotalSteps = record.TotalSteps,
        Epoch = Epoch,
        Loss = losses.Last,
        TokensPerSecond = TokensPerSecond(run),
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
        InFlight = run?.Feeder.InFlight ?? 0,
        GradNorm = _metrics.GradNorm(record.Step),
        Evaluation = _metrics.Latest,
        StepSkipped = _metrics.Skipped(record.Step),
    };
}
