namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>
/// The grad norm and evaluation of each step a job activation heard of from its side trainer (<see cref="StepMetrics"/>),
/// for step events, watch history and the progress snapshot. In memory only: the side trainer reports them once per
/// step, so a job grain activated after a restart knows those of the steps it sees from then on (the loss history is the
/// durable record). A step replayed after a recovery reports the same numbers again (training is deterministic).
/// </summary>
/// <remarks>Threading: not thread-safe; the job grain calls it from its turns only.</remarks>
internal sealed class StepMetricsHistory
{
    readonly Dictionary<int, double> _gradNorms = new();
    readonly SortedDictionary<int, JobEvaluation> _evaluations = new();
    readonly Dictionary<int, string> _skipped = new();

    /// <summary>The evaluation of the highest step evaluated so far; null before the first.</summary>
    public JobEvaluation? Latest { get; private set; }

    public void Set(int step, StepMetrics? metrics)
    {
        if (metrics is null) return;
        if (!double.IsNaN(metrics.GradNorm)) _gradNorms[step] = metrics.GradNorm;
        if (metrics.Skipped is { } why) _skipped[step] = why; else _skipped.Remove(step);
        if (metrics.Evaluation is not { } evaluation) return;
        _evaluations[step] = evaluation;
        if (Latest is null || evaluation.Step >= Latest.Step) Latest = evaluation;
    }

    /// <summary>The grad norm (before clipping) of <paramref name="step"/>; null when not reported to this activation.</summary>
    public double? GradNorm(int step) => _gradNorms.TryGetValue(step, out double norm) ? norm : null;

    /// <summary>The evaluation of <paramref name="step"/>; null when it was not evaluated (or not reported to this activation).</summary>
    public JobEvaluation? Evaluation(int step) => _evaluations.GetValueOrDefault(step);

    /// <summary>Why <paramref name="step"/> applied no update (<see cref="StepMetrics.Skipped"/>); null when it was applied or not reported.</summary>
    public string? Skipped(int step) => _skipped.GetValueOrDefault(step);
}
