using QstOrleans.Model.Attention;
using QstOrleans.Model.Layers;
using System.Text;
using QstOrleans.Cli.Bench.Reports;
using static QstOrleans.Cli.Bench.Reports.MarkdownTable;

namespace QstOrleans.Cli.Bench.Compare;

/// <summary>
/// RESULTS.md's "which row is the paper's" paragraph, computed from the comparison records rather than written by hand.
/// The QST paper's baseline is HF <c>qlora.py</c>, which checkpoints every layer by default, so its table is QST against
/// <c>qlora+gc</c>; the paper's figures are up to 3× the speed and 2.3× less memory (Llama-2-70B, batch 1 × 1024).
/// Per shape and per QST variant (default heads, <c>qst:heads=N</c>) the paragraph gives the measured speed ratio and the
/// memory ratio (peak above the runtime floor: weights and steps, what the paper's GPU figure counts), says whether each
/// reaches the paper's figure, and names the baseline row whose memory ratio comes closest to the paper's.
/// </summary>
public static class ComparePaperRow
{
    /// <summary>The paper's QLoRA ÷ QST memory figure.</summary>
    public const double PaperMemoryRatio = 2.3;
    /// <summary>The paper's "up to 3×" speed figure.</summary>
    public const double PaperSpeedRatio = 3.0;
    /// <summary>The label of the paper's baseline.</summary>
    public const string PaperBaseline = "qlora+gc";

    public static string Paragraph(IReadOnlyList<ComparedRun> runs)
    {
        var sb = new StringBuilder("**Which row is the paper's.** The QST paper's QLoRA baseline is HF `qlora.py`, which turns gradient ");
        sb.Append("checkpointing on by default, so its table is QST against the `").Append(PaperBaseline).Append("` rows (`qlora` without ");
        sb.Append("recompute is the faster, hungrier baseline; both are shown). Its figures: up to ").Append(Num(PaperSpeedRatio, 1)).Append("× the speed, ");
        sb.Append(Num(PaperMemoryRatio, 1)).Append("× less memory (Llama-2-70B, batch 1 × 1024, where weights dominate). Memory here = peak above the runtime floor ");
        sb.Append("(weights and steps, as a GPU figure counts them). Computed from the records:\n\n");
        foreach (var group in runs.GroupBy(r => (r.Shape.Model, r.Shape.Batch, r.Shape.Sequence)))
        {
            var rows = group.ToList();
            string shape = $"{group.Key.Model} {group.Key.Batch} × {group.Key.Sequence}";
            var qsts = rows.Where(r => r.Method == "qst").OrderBy(r => Array.IndexOf(AttentionKernels.Names, r.Attention))
                .ThenBy(r => r.SideHeads).ThenBy(r => r.SideScoresBf16).ToList();
            var baselines = rows.Where(r => r.Method != "qst" && r.Method != "qst-cached").ToList();
            if (qsts.Count == 0 || baselines.Count == 0) continue;
            foreach (var qst in qsts)
            {
                // Like against like: the paper's baseline attending with the same kernel as this QST row.
                var paper = baselines.FirstOrDefault(r => r.Method == "qlora" && r.GradientCheckpointing && r.Attention == qst.Attention);
                sb.Append("- ").Append(shape).Append(", `").Append(qst.Label).Append("`: ");
                if (paper is null) sb.Append("no `").Append(PaperBaseline).Append("` row with the same attention kernel at this shape, so the paper's comparison was not measured. ");
                else
                {
                    double speed = BenchRatios.Ratio(qst.TokensPerSecond, paper.TokensPerSecond);
                    double memory = BenchRatios.Ratio(paper.PeakAboveFloor, qst.PeakAboveFloor);
                    sb.Append("the paper's comparison measures QST at ").Append(Num(speed, 2)).Append("× the speed of `").Append(paper.Label)
                        .Append("` (paper: up to ").Append(Num(PaperSpeedRatio, 1)).Append("×; ").Append(speed >= PaperSpeedRatio ? "reached" : "not reached")
                        .Append(") and `").Append(paper.Label).Append("` at ").Append(Num(memory, 2)).Append("× QST's memory (paper: ")
                        .Append(Num(PaperMemoryRatio, 1)).Append("×; ").Append(memory >= PaperMemoryRatio ? "reached" : "not reached").Append("). ");
                    if (qst.TokensPerSecondMax > 0 && paper.TokensPerSecondMax > 0)
                        sb.Append("Fastest step against fastest step (a slowed process only ever loses speed, so the fastest steps are the ")
                            .Append("least disturbed): ").Append(Num(BenchRatios.Ratio(qst.TokensPerSecondMax, paper.TokensPerSecondMax), 2)).Append("×. ");
                    if (MeasuredCeiling(qst, paper) is { } ceiling) sb.Append(ceiling);
                }
                if (Closest(qst, baselines) is { } closest)
                    sb.Append("Closest to the paper's memory figure: `").Append(closest.Row.Label).Append("` at ").Append(Num(closest.Ratio, 2)).Append("× QST's memory.");
                sb.Append('\n');
            }
        }
        return sb.Append('\n').ToString();
    }

    /// <summary>
    /// Where QST's step goes and the speed ratio it would reach if the frozen backbone's forward were all it did (the
    /// measured ceiling: the baseline's step time ÷ QST's backbone time, both from this run), from the records' phase split
    /// (<see cref="ComparedRun.Phases"/>); null when either record has none. The gap between the measured ratio and this
    /// ceiling is the side network with the LM head and loss, its backward and the optimizer.
    /// </summary>
    public static string? MeasuredCeiling(ComparedRun qst, ComparedRun baseline)
    {
        if (qst.Phases is not { BackboneSeconds: > 0 } q || baseline.Phases is null || baseline.TokensPerSecond <= 0 || qst.TokensPerSecond <= 0) return null;
        double tokens = (double)qst.Shape.Batch * qst.Shape.Sequence;
        double qstStep = tokens / qst.TokensPerSecond, baselineStep = tokens / baseline.TokensPerSecond;
        double ceiling = baselineStep / q.BackboneSeconds;
        return $"Per step (medians): QST {Num(qstStep, 3)} s = frozen backbone {Num(q.BackboneSeconds, 3)} s + side network, LM head and loss " +
               $"{Num(q.ForwardSeconds, 3)} s + backward {Num(q.BackwardSeconds, 3)} s + optimizer {Num(q.OptimizerSeconds, 3)} s; `{baseline.Label}` " +
               $"{Num(baselineStep, 3)} s (forward {Num(baseline.Phases.ForwardSeconds, 3)} s, backward with recompute {Num(baseline.Phases.BackwardSeconds, 3)} s). " +
               $"With nothing but its backbone forward QST would run at {Num(ceiling, 2)}× `{baseline.Label}`'s speed (the measured ceiling); " +
               $"the {Num(100 * (1 - q.BackboneSeconds / qstStep), 0)} % of its step outside the backbone is what separates the two. ";
    }

    /// <summary>The baseline whose memory ÷ QST's is nearest the paper's 2.3× on a log scale (1.15× and 4.6× are equally far);
    /// null when no record has a memory figure.</summary>
    public static (ComparedRun Row, double Ratio)? Closest(ComparedRun qst, IReadOnlyList<ComparedRun> baselines)
    {
        var ranked = baselines.Select(b => (Row: b, Ratio: BenchRatios.Ratio(b.PeakAboveFloor, qst.PeakAboveFloor)))
            .Where(x => x.Ratio > 0).OrderBy(x => Math.Abs(Math.Log(x.Ratio / PaperMemoryRatio))).ThenBy(x => x.Row.Label, StringComparer.Ordinal).ToList();
        return ranked.Count == 0 ? null : ranked[0];
    }

}
