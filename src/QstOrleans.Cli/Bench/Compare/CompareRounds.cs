using QstOrleans.Cli.Bench.Reports;

namespace QstOrleans.Cli.Bench.Compare;

/// <summary>One configuration of the comparison: a method, with or without per-layer gradient checkpointing, and for QST
/// the side network's attention head count (0 = the backbone's, the reference's shape) and whether its attention scores
/// stay bf16 through mask and softmax (<c>qst.side_scores_bf16</c>).</summary>
public sealed record CompareConfig(string Method, bool GradientCheckpointing, int SideHeads = 0, bool SideScoresBf16 = false,
    string Attention = ComparedRun.DefaultAttention)
{
    /// <summary>The suffixes that set <see cref="Attention"/> (any method, last): <c>qlora+gc:eager</c> (scores saved, as before
    /// session 9), <c>qst:fused</c> (libtorch's fused kernel); none = the engine's recompute kernel.</summary>
    public static readonly string[] AttentionSuffixes = [":fused", ":eager"];

    /// <summary>The suffix that sets <see cref="SideHeads"/>: <c>qst:heads=1</c>.</summary>
    public const string HeadsSuffix = ":heads=";
    /// <summary>The suffix that sets <see cref="SideScoresBf16"/>: <c>qst:bf16-scores</c> (last, after any <c>:heads=N</c>).</summary>
    public const string Bf16ScoresSuffix = ":bf16-scores";

    public string Label => ComparedRun.LabelOf(Method, GradientCheckpointing, SideHeads, SideScoresBf16, Attention);

    /// <summary>Parses <c>qst,qst:heads=1,qst:bf16-scores,qlora,qlora+gc,…</c>; a suffix <c>+gc</c> turns checkpointing on,
    /// <c>:heads=N</c> gives QST's side network N attention heads, <c>:bf16-scores</c> keeps its attention scores in bf16,
    /// <c>:fused</c> or <c>:eager</c> (last) attends with that kernel instead of the engine's recompute kernel.</summary>
    /// <exception cref="ArgumentException">An unknown method, <c>+gc</c> on a method that cannot recompute, <c>:heads=</c> or
    /// <c>:bf16-scores</c> on a method without a side network, a head count below 1, or a repeat; names <c>--configs</c>.</exception>
    public static IReadOnlyList<CompareConfig> ParseList(string text)
    {
        var list = new List<CompareConfig>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var config = Parse(item);
            if (list.Contains(config)) throw new ArgumentException($"--configs: '{item}' is listed twice");
            list.Add(config);
        }
        if (list.Count == 0) throw new ArgumentException("--configs: no configuration given");
        return list;
    }

    static CompareConfig Parse(string item)
    {
        string rest = item;
        string attention = ComparedRun.DefaultAttention;
        if (AttentionSuffixes.FirstOrDefault(x => rest.EndsWith(x, StringComparison.Ordinal)) is { } suffix)
        {
            attention = suffix[1..];
            rest = rest[..^suffix.Length];
        }
        bool bf16Scores = rest.EndsWith(Bf16ScoresSuffix, StringComparison.Ordinal);
        if (bf16Scores) rest = rest[..^Bf16ScoresSuffix.Length];
        int heads = 0;
        int at = rest.IndexOf(HeadsSuffix, StringComparison.Ordinal);
        if (at >= 0)
        {
            string count = rest[(at + HeadsSuffix.Length)..];
            if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out heads) || heads < 1)
                throw new ArgumentException($"--configs: '{item}': {HeadsSuffix}N needs a whole number of side heads ≥ 1 (got '{count}')");
            rest = rest[..at];
        }
        bool gc = rest.EndsWith(BenchRunOne.CheckpointedSuffix, StringComparison.Ordinal);
        string method = gc ? rest[..^BenchRunOne.CheckpointedSuffix.Length] : rest;
        if (!BenchRunOne.Methods.Contains(method))
            throw new ArgumentException($"--configs: unknown method '{method}' in '{item}' (one of {string.Join(", ", BenchRunOne.Methods)}, optionally with +gc or {HeadsSuffix}N)");
        if (gc && !BenchRunOne.Checkpointable.Contains(method))
            throw new ArgumentException($"--configs: '{item}': only {string.Join(", ", BenchRunOne.Checkpointable)} recompute layers in backward (QST keeps no backbone graph)");
        if (heads > 0 && !method.StartsWith("qst", StringComparison.Ordinal))
            throw new ArgumentException($"--configs: '{item}': {HeadsSuffix}N sets QST's side attention heads; {method} has no side network");
        if (bf16Scores && !method.StartsWith("qst", StringComparison.Ordinal))
            throw new ArgumentException($"--configs: '{item}': {Bf16ScoresSuffix} sets QST's side attention scores; {method} has no side network");
        return new CompareConfig(method, gc, heads, bf16Scores, attention);
    }
}

/// <summary>
/// The comparison's arithmetic, apart from any process: the interleaved order (A B C, B C A, …, so a burst of load from
/// the shared machine hits every configuration alike) and the per-configuration summary (median, min, max).
/// </summary>
public static class CompareRounds
{
    /// <summary>Round-major order: every configuration once per round. Round r starts at configuration r mod n and goes on
    /// cyclically (A B C, B C A, C A B, …), so no configuration always runs first, straight after the model is written,
    /// or always last, when a shared machine's load has had longest to change.</summary>
    public static IReadOnlyList<(int Round, CompareConfig Config)> Schedule(IReadOnlyList<CompareConfig> configs, int rounds)
    {
        if (rounds < 1) throw new ArgumentException($"--rounds: must be at least 1 (got {rounds})");
        int n = configs.Count;
        var order = new List<(int, CompareConfig)>(rounds * n);
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < n; k++) order.Add((r, configs[(r + k) % n]));
        return order;
    }

    /// <summary>Median (mean of the two middle values for an even count), min and max.</summary>
    /// <exception cref="ArgumentException">No values.</exception>
    public static (double Median, double Min, double Max) Summary(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0) throw new ArgumentException("no values to summarise", nameof(values));
        int mid = sorted.Length / 2;
        double median = sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        return (median, sorted[0], sorted[^1]);
    }

    /// <summary>One configuration's rounds (in the order they ran) as one record.</summary>
    /// <param name="positions">Where each round's process ran in the interleaved sequence.</param>
    public static ComparedRun Summarize(CompareConfig config, IReadOnlyList<MethodRun> rounds, IReadOnlyList<int> positions,
        string command, DateTimeOffset date, string loadAverage)
    {
        if (rounds.Count == 0) throw new ArgumentException($"{config.Label}: no completed round", nameof(rounds));
        // Older children report only their mean; fall back to it so a record never claims steps it has not got.
        var steps = rounds.SelectMany(r => r.StepTokensPerSecond.Count > 0 ? r.StepTokensPerSecond : Enumerable.Repeat(r.TokensPerSecond, r.Steps)).ToList();
        var speed = Summary(steps);
        var peak = Summary(rounds.Select(r => (double)r.PeakRssTraining));
        static long Median(IEnumerable<double> v) => (long)Math.Round(Summary(v).Median);
        var first = rounds[0];
        return new ComparedRun
        {
            Method = config.Method,
            GradientCheckpointing = config.GradientCheckpointing,
            SideHeads = config.SideHeads,
            SideScoresBf16 = config.SideScoresBf16,
            Attention = config.Attention,
            Shape = first.Shape,
            TokensPerSecond = speed.Median,
            TokensPerSecondMin = speed.Min,
            TokensPerSecondMax = speed.Max,
            StepsTimed = steps.Count,
            Rounds = rounds.Count,
            PeakRssTraining = (long)Math.Round(peak.Median),
            PeakRssTrainingMin = (long)peak.Min,
            PeakRssTrainingMax = (long)peak.Max,
            RssAfterLoad = Median(rounds.Select(r => (double)r.RssAfterLoad)),
            RssBeforeLoad = Median(rounds.Select(r => (double)r.RssBeforeLoad)),
            PeakAboveLoad = Median(rounds.Select(r => (double)(r.PeakRssTraining - r.RssAfterLoad))),
            PeakAboveFloor = Median(rounds.Select(r => (double)r.PeakAboveFloor)),
            MinorFaultsPerStep = rounds.All(r => r.MinorFaultsPerStep is not null) ? Summary(rounds.Select(r => r.MinorFaultsPerStep!.Value)).Median : null,
            Phases = rounds.All(r => r.Phases is not null) ? QstOrleans.Model.Metrics.StepPhases.Median(rounds.Select(r => r.Phases)) : null,
            TrainableParameters = first.TrainableParameters,
            WeightBytes = first.WeightBytes,
            FirstLoss = first.FirstLoss,
            LastLoss = first.LastLoss,
            StepTokensPerSecond = steps,
            Positions = positions,
            Command = command,
            Date = date,
            LoadAverage = loadAverage,
        };
    }

    /// <summary>
    /// Replaces the comparison records of the same model, batch and sequence length with <paramref name="fresh"/>
    /// and keeps every other record (other shapes, other benches' sections).
    /// </summary>
    public static BenchResults Merge(BenchResults existing, IReadOnlyList<ComparedRun> fresh)
    {
        var keys = fresh.Select(Key).ToHashSet();
        var kept = existing.Comparisons.Where(c => !keys.Contains(Key(c)));
        return existing with { Comparisons = [.. kept, .. fresh] };
    }

    static (string, int, int) Key(ComparedRun r) => (r.Shape.Model, r.Shape.Batch, r.Shape.Sequence);
}
