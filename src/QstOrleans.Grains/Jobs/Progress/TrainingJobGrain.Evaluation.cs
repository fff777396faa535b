namespace QstOrleans.Grains.Jobs;

/// <summary>The job grain's part of a cluster job's evaluation (the side trainer runs it: <c>Side/Evaluation/SideEvaluation</c>;
/// its results come with <see cref="MicroBatchApplied"/>).</summary>
public sealed partial class TrainingJobGrain
{
    public Task Evaluating(int attempt, int step)
    {
        // A stale attempt's evaluation is ignored like its micro-batches (fencing).
        if (Run is { } run && run.Attempt == attempt && !Record.IsFinished) run.Feeder.Alive();
        return Task.CompletedTask;
    }
}
