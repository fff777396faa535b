using System.Text;
using static QstOrleans.Cli.Bench.Reports.MarkdownTable;

namespace QstOrleans.Cli.Bench.Reports;

/// <summary>The interleaved comparison (<c>qst bench compare</c>) as Markdown: one table per shape, then the ratios against QST.</summary>
public static class CompareMarkdown
{
    public static string Section(IReadOnlyList<ComparedRun> runs)
    {
        var sb = new StringBuilder("## 0. Interleaved comparison (`qst bench compare`)\n\n");
        sb.Append("Each configuration trained in its own process, interleaved (A B C … A B C …) over the rounds. tokens/s = median over every ");
        sb.Append("measured step of every round (min–max); peak = training VmHWM (reset after loading), median over rounds (min–max); ");
        sb.Append("above load = peak − RSS after loading the model; above floor = peak − RSS before the model. MiB. ");
        sb.Append("`+gc` = every decoder layer recomputed in backward (the HF `qlora.py` default); QST keeps no backbone graph.\n\n");
        foreach (var group in runs.GroupBy(r => (r.Shape.Model, r.Shape.Batch, r.Shape.Sequence)))
        {
            var rows = group.ToList();
            var first = rows[0];
            sb.Append("**").Append(first.Shape.Describe()).Append("**  \n");
            sb.Append("`").Append(first.Command).Append("` — ").Append(CultureInfo.InvariantCulture, $"{first.Date:yyyy-MM-dd HH:mm} UTC, load average {first.LoadAverage}\n\n");
            sb.Append(MarkdownTable.Render(
                ["configuration", "trainable", "tokens/s median", "min–max", "steps timed", "rounds", "peak RSS", "peak min–max", "above load", "above floor", "loss first → last"],
                rows.Select(x => (IReadOnlyList<string>)[
                    x.Label, x.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture), Num(x.TokensPerSecond, 1),
                    $"{Num(x.TokensPerSecondMin, 1)}–{Num(x.TokensPerSecondMax, 1)}", Str(x.StepsTimed), Str(x.Rounds),
                    MiB(x.PeakRssTraining), $"{MiB(x.PeakRssTrainingMin)}–{MiB(x.PeakRssTrainingMax)}", MiB(x.PeakAboveLoad), MiB(x.PeakAboveFloor),
                    $"{Num(x.FirstLoss, 3)} → {Num(x.LastLoss, 3)}"]),
                [false, true, true, true, true, true, true, true, true, true, false]));
            sb.Append('\n');
            var qst = rows.FirstOrDefault(r => r.Method == "qst");
            if (qst is null) continue;
            sb.Append("Against QST (speed: QST's median ÷ the configuration's; memory: the configuration's ÷ QST's):\n\n");
            sb.Append(MarkdownTable.Render(["configuration", "QST speed ÷", "peak RSS ÷ QST's", "above load ÷ QST's", "above floor ÷ QST's"],
                rows.Where(r => r != qst).Select(x => (IReadOnlyList<string>)[
                    x.Label, Num(BenchRatios.Ratio(qst.TokensPerSecond, x.TokensPerSecond), 2) + "×",
                    Num(BenchRatios.Ratio(x.PeakRssTraining, qst.PeakRssTraining), 2) + "×",
                    Num(BenchRatios.Ratio(x.PeakAboveLoad, qst.PeakAboveLoad), 2) + "×",
                    Num(BenchRatios.Ratio(x.PeakAboveFloor, qst.PeakAboveFloor), 2) + "×"]),
                [false, true, true, true, true]));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);
}
