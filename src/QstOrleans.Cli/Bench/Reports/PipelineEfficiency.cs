namespace QstOrleans.Cli.Bench.Reports;

/// <summary>
/// How close a pipeline run came to the ideal bubble-free pipeline. Workers are the backbone stages and the
/// side trainer. In steady state an ideal pipeline finishes one micro-batch per max_w(c_w) seconds, where
/// c_w is worker w's compute time per micro-batch; so M micro-batches ideally take M·max_w(c_w).
/// <code>
/// efficiency      = M · max_w(c_w) / wall
/// ideal speedup   = Σ_w c_w / max_w(c_w)      (vs running the same work one worker after another)
/// utilisation_w   = M · c_w / wall
/// on C cores      : ideal wall = M · max(max_w c_w, Σ_w c_w / C)   (no pipeline beats the cores it has)
/// </code>
/// </summary>
public static class PipelineEfficiency
{
    /// <param name="computeSecondsPerMicroBatch">c_w for every worker.</param>
    /// <param name="microBatches">M.</param>
    /// <param name="wallSeconds">Wall time of the M micro-batches.</param>
    public static double Efficiency(IReadOnlyList<double> computeSecondsPerMicroBatch, long microBatches, double wallSeconds)
    {
        Check(computeSecondsPerMicroBatch, wallSeconds);
        return microBatches * computeSecondsPerMicroBatch.Max() / wallSeconds;
    }

    /// <summary>M · max(max_w c_w, Σ_w c_w / cores) / wall: efficiency against the bubble-free pipeline that also shares <paramref name="cores"/> cores.</summary>
    public static double EfficiencyOnCores(IReadOnlyList<double> computeSecondsPerMicroBatch, long microBatches, double wallSeconds, int cores)
    {
        Check(computeSecondsPerMicroBatch, wallSeconds);
        if (cores < 1) throw new ArgumentOutOfRangeException(nameof(cores), cores, "cores must be >= 1");
        return microBatches * Math.Max(computeSecondsPerMicroBatch.Max(), computeSecondsPerMicroBatch.Sum() / cores) / wallSeconds;
    }

    public static double IdealSpeedup(IReadOnlyList<double> computeSecondsPerMicroBatch)
    {
        Check(computeSecondsPerMicroBatch, 1);
        return computeSecondsPerMicroBatch.Sum() / computeSecondsPerMicroBatch.Max();
    }

    public static double Utilisation(double computeSecondsPerMicroBatch, long microBatches, double wallSeconds) =>
        wallSeconds > 0 ? microBatches * computeSecondsPerMicroBatch / wallSeconds : throw new ArgumentOutOfRangeException(nameof(wallSeconds));

    static void Check(IReadOnlyList<double> c, double wall)
    {
        if (c.Count == 0) throw new ArgumentException("no workers", nameof(c));
        if (c.Any(x => x < 0 || double.IsNaN(x))) throw new ArgumentException("compute times must be >= 0", nameof(c));
        if (wall <= 0) throw new ArgumentOutOfRangeException(nameof(wall), wall, "wall time must be > 0");
    }
}
