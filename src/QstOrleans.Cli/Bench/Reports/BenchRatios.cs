namespace QstOrleans.Cli.Bench.Reports;

/// <summary>One method against QST on the same shape: how many times more memory it needs and how much slower it is.</summary>
/// <param name="PeakRatio">Training peak RSS (whole process) of the other method / QST's.</param>
/// <param name="AboveFloorRatio">The same with the runtime floor (RSS before loading) taken off both.</param>
/// <param name="SpeedRatio">QST tokens/s / the other method's tokens/s (> 1: QST is faster).</param>
public sealed record RatioVsQst(string Method, string Model, double PeakRatio, double AboveFloorRatio, double SpeedRatio);

/// <summary>The comparisons the paper makes (QLoRA/QST memory and speed, full/QST memory), from measured runs.</summary>
public static class BenchRatios
{
    /// <summary>a / b, NaN when b is not positive (a missing or failed run).</summary>
    public static double Ratio(double a, double b) => b > 0 ? a / b : double.NaN;

    /// <summary>Every non-QST run against the QST run on the same model; models without a QST run are skipped.</summary>
    public static IReadOnlyList<RatioVsQst> AgainstQst(IEnumerable<MethodRun> runs, string qstMethod = "qst")
    {
        var list = runs.ToList();
        var result = new List<RatioVsQst>();
        foreach (var group in list.GroupBy(r => r.Shape.Model))
        {
            var qst = group.FirstOrDefault(r => r.Method == qstMethod);
            if (qst is null) continue;
            foreach (var other in group.Where(r => r.Method != qstMethod))
                result.Add(new RatioVsQst(other.Method, group.Key,
                    Ratio(other.PeakRssTraining, qst.PeakRssTraining),
                    Ratio(other.PeakAboveFloor, qst.PeakAboveFloor),
                    Ratio(qst.TokensPerSecond, other.TokensPerSecond)));
        }
        return result;
    }
}
