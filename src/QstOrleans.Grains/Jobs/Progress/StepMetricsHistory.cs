namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>
/// The grad norm, learning rate, epoch and evaluation of each completed step (<see cref="StepMetrics"/>), for step events, watch
/// history and the progress snapshot. Kept like the loss history: in memory and persisted beside the job record in chunks of
/// <see cref="ChunkSize"/> steps (<see cref="IStepMetricsStore"/>, chunk k = steps k·size+1 .. (k+1)·size), written at the job's
/// state writes (<see cref="FlushAsync"/>: only the chunks changed since the last one) and loaded when the job activates again,
/// so after a full cluster restart a client watching the job still gets the earlier steps' metrics. A step replayed after a
/// recovery reports the same numbers again (training is deterministic), so nothing is rewound.
/// </summary>
/// <remarks>Threading: not thread-safe; the job grain calls it from its turns only.</remarks>
internal sealed class StepMetricsHistory(IStepMetricsStore? store = null, int chunkSize = 256)
{
    readonly Dictionary<int, double> _gradNorms = new();
    readonly Dictionary<int, double> _learningRates = new();
    readonly Dictionary<int, int> _epochs = new();
    readonly SortedDictionary<int, JobEvaluation> _evaluations = new();
    readonly Dictionary<int, string> _skipped = new();                           // in memory only (the side trainer's log keeps it too)
    readonly SortedSet<int> _dirty = [];

    public int ChunkSize { get; } = chunkSize >= 1 ? chunkSize : throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "must be >= 1");

    /// <summary>The evaluation of the highest step evaluated so far; null before the first.</summary>
    public JobEvaluation? Latest { get; private set; }

    /// <summary>Records what the side trainer reported with <paramref name="step"/> and the plan's <paramref name="learningRate"/>
    /// and <paramref name="epoch"/> for it.</summary>
    public void Set(int step, StepMetrics? metrics, double learningRate = double.NaN, int? epoch = null)
    {
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), step, "steps are 1-based");
        _dirty.Add((step - 1) / ChunkSize);
        if (!double.IsNaN(learningRate)) _learningRates[step] = learningRate;
        if (epoch is { } e) _epochs[step] = e;
        if (metrics is null) return;
        if (!double.IsNaN(metrics.GradNorm)) _gradNorms[step] = metrics.GradNorm;
        if (metrics.Skipped is { } why) _skipped[step] = why; else _skipped.Remove(step);
        if (metrics.Evaluation is { } evaluation) Evaluated(step, evaluation);
    }

    void Evaluated(int step, JobEvaluation evaluation)
    {
        _evaluations[step] = evaluation;
        if (Latest is null || evaluation.Step >= Latest.Step) Latest = evaluation;
    }

    /// <summary>The grad norm (before clipping) of <paramref name="step"/>; null when not known.</summary>
    public double? GradNorm(int step) => _gradNorms.TryGetValue(step, out double norm) ? norm : null;

    /// <summary>The learning rate <paramref name="step"/> ran with; null when not known.</summary>
    public double? LearningRate(int step) => _learningRates.TryGetValue(step, out double lr) ? lr : null;

    /// <summary>The epoch <paramref name="step"/> ended in; null when not known.</summary>
    public int? Epoch(int step) => _epochs.TryGetValue(step, out int epoch) ? epoch : null;

    /// <summary>The evaluation of <paramref name="step"/>; null when it was not evaluated (or not known).</summary>
    public JobEvaluation? Evaluation(int step) => _evaluations.GetValueOrDefault(step);

    /// <summary>Loads the stored chunks covering steps 1..<paramref name="steps"/> (what the job record says is stored).</summary>
    public async Task LoadAsync(int steps)
    {
        if (store is null) return;
        for (int chunk = 0; chunk * ChunkSize < steps; chunk++)
        {
            if (await store.ReadAsync(chunk) is not { } stored) continue;
            for (int i = 0; i < stored.GradNorms.Length; i++) Put(_gradNorms, chunk * ChunkSize + i + 1, stored.GradNorms[i]);
            for (int i = 0; i < stored.LearningRates.Length; i++) Put(_learningRates, chunk * ChunkSize + i + 1, stored.LearningRates[i]);
            for (int i = 0; i < stored.Epochs.Length; i++) if (stored.Epochs[i] >= 0) _epochs[chunk * ChunkSize + i + 1] = stored.Epochs[i];
            foreach (var evaluation in stored.Evaluations) Evaluated(evaluation.Step, evaluation);
        }
    }

    static void Put(Dictionary<int, double> into, int step, double value)
    {
        if (!double.IsNaN(value)) into[step] = value;
    }

    /// <summary>Writes the chunks changed since the last flush; the store's errors are thrown and the next flush retries them.</summary>
    public async Task FlushAsync()
    {
        if (store is null || _dirty.Count == 0) return;
        var chunks = _dirty.ToList();
        _dirty.Clear();
        for (int i = 0; i < chunks.Count; i++)
        {
            try { await store.WriteAsync(chunks[i], ChunkOf(chunks[i])); }
            catch
            {
                _dirty.UnionWith(chunks.Skip(i));
                throw;
            }
        }
    }

    StepMetricsChunk ChunkOf(int chunk)
    {
        int first = chunk * ChunkSize + 1;
        int last = _gradNorms.Keys.Concat(_learningRates.Keys).Concat(_epochs.Keys).Concat(_evaluations.Keys)
            .Where(s => s >= first && s < first + ChunkSize).DefaultIfEmpty(first - 1).Max();
        var steps = Enumerable.Range(first, last - first + 1).ToList();
        return new StepMetricsChunk
        {
            GradNorms = steps.Select(s => GradNorm(s) ?? double.NaN).ToArray(),
            LearningRates = steps.Select(s => LearningRate(s) ?? double.NaN).ToArray(),
            Epochs = steps.Select(s => Epoch(s) ?? -1).ToArray(),
            Evaluations = steps.Select(Evaluation).OfType<JobEvaluation>().ToList(),
        };
    }

    /// <summary>Why <paramref name="step"/> applied no update (<see cref="StepMetrics.Skipped"/>); null when it was applied or not reported.</summary>
    public string? Skipped(int step) => _skipped.GetValueOrDefault(step);
}
