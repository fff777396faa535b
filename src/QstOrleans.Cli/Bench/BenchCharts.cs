using QstOrleans.Cli.Bench.Reports;
using ScottPlot;

namespace QstOrleans.Cli.Bench;

/// <summary>The PNG charts of a bench run (ScottPlot): memory split and speed per method, the 70B model vs the paper, pipeline scaling.</summary>
internal static class BenchCharts
{
    static readonly Color[] Palette = [Colors.SteelBlue, Colors.Orange, Colors.SeaGreen, Colors.IndianRed];

    /// <summary>Writes every chart the results allow; returns the file names written.</summary>
    public static List<string> Write(BenchResults r, string directory)
    {
        var written = new List<string>();
        foreach (var group in r.Methods.GroupBy(m => m.Shape.Model))
        {
            var runs = group.ToList();
            string safe = string.Concat(group.Key.Select(ch => char.IsLetterOrDigit(ch) || ch == '-' ? ch : '_'));
            written.Add(Stacked(Path.Combine(directory, $"memory-{safe}.png"), $"Memory per method, {runs[0].Shape.Describe()}",
                runs.Select(m => m.Method).ToList(), "MiB",
                [("weights", runs.Select(m => m.WeightBytes / 1048576.0).ToArray()),
                 ("gradients + AdamW", runs.Select(m => (m.GradientBytes + m.OptimizerBytes) / 1048576.0).ToArray()),
                 ("activations (measured)", runs.Select(m => m.ActivationBytes / 1048576.0).ToArray())]));
            written.Add(Simple(Path.Combine(directory, $"speed-{safe}.png"), $"Training speed, {group.Key}",
                runs.Select(m => m.Method).ToList(), runs.Select(m => m.TokensPerSecond).ToArray(), "tokens/s"));
        }
        var big = r.MemoryModel.Where(m => m.Model == "llama2-70b").ToList();
        if (big.Count > 0)
        {
            var rows = new List<(string Label, double W, double O, double A)>();
            foreach (var m in big)
            {
                rows.Add(($"{m.Method} (model)", m.Estimate.Weights / 1e9, m.Estimate.OptimizerAndGradients / 1e9, m.Estimate.Activations / 1e9));
                if (m.Paper is { } p) rows.Add(($"{p.Method} (paper)", p.WeightsGb, p.OptimizerGb, p.ActivationsGb));
            }
            written.Add(Stacked(Path.Combine(directory, "memory-llama2-70b.png"), $"Llama-2-70B: memory model (batch {big[0].Batch} × seq {big[0].Sequence}) vs the paper",
                rows.Select(x => x.Label).ToList(), "GB",
                [("weights", rows.Select(x => x.W).ToArray()), ("optimizer + gradients", rows.Select(x => x.O).ToArray()), ("activations", rows.Select(x => x.A).ToArray())]));
        }
        if (r.Pipeline.Count > 0)
        {
            var p = r.Pipeline.OrderBy(x => x.Mode, StringComparer.Ordinal).ThenBy(x => x.Stages).ToList();
            written.Add(Simple(Path.Combine(directory, "pipeline-scaling.png"), $"Pipeline scaling, {p[0].Shape.Model} (1 torch thread per worker, {p[0].Cores} cores)",
                p.Select(x => $"{x.Stages} stage{(x.Stages > 1 ? "s" : "")}, {x.Mode}").ToList(), p.Select(x => x.TokensPerSecond).ToArray(), "tokens/s"));
        }
        return written.Select(Path.GetFileName).ToList()!;
    }

    static string Stacked(string path, string title, IReadOnlyList<string> labels, string unit, IReadOnlyList<(string Name, double[] Values)> series)
    {
        var plot = new Plot();
        var bars = new List<Bar>();
        for (int i = 0; i < labels.Count; i++)
        {
            double baseValue = 0;
            for (int s = 0; s < series.Count; s++)
            {
                double top = baseValue + series[s].Values[i];
                bars.Add(new Bar { Position = i, ValueBase = baseValue, Value = top, FillColor = Palette[s % Palette.Length] });
                baseValue = top;
            }
        }
        plot.Add.Bars(bars);
        for (int s = 0; s < series.Count; s++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s].Name, FillColor = Palette[s % Palette.Length] });
        plot.ShowLegend(Alignment.UpperRight);
        Finish(plot, path, title, labels, unit);
        return path;
    }

    static string Simple(string path, string title, IReadOnlyList<string> labels, double[] values, string unit)
    {
        var plot = new Plot();
        plot.Add.Bars(values.Select((v, i) => new Bar { Position = i, Value = v, FillColor = Palette[0] }).ToList());
        Finish(plot, path, title, labels, unit);
        return path;
    }

    static void Finish(Plot plot, string path, string title, IReadOnlyList<string> labels, string unit)
    {
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, labels.Count).Select(i => (double)i).ToArray(), labels.ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title(title.Length > 90 ? title[..90] + "…" : title, size: 12);
        plot.YLabel(unit);
        plot.SavePng(path, Math.Max(640, 110 * labels.Count), 480);
    }
}
