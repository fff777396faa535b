using QstOrleans.Cli.Bench.Reports;
using ScottPlot;

namespace QstOrleans.Cli.Bench;

/// <summary>The wire benchmark's chart (ScottPlot): median tokens/s per link rate, one line per taps mode.</summary>
internal static class BenchWireChart
{
    /// <summary>Writes the chart to <paramref name="path"/>; returns its file name, or "" when nothing was measured.</summary>
    public static string Write(WireResults results, string path)
    {
        var measured = results.Records.Where(r => r.TokensPerSecond is not null).ToList();
        if (measured.Count == 0) return "";
        // Links from fastest to slowest, unlimited first, evenly spaced (the rates span decades).
        var links = measured.Select(r => r.LinkMbit).Distinct().OrderBy(m => m == 0 ? 0 : 1).ThenByDescending(m => m).ToList();
        var plot = new Plot();
        var colors = new[] { Colors.IndianRed, Colors.SteelBlue };
        int c = 0;
        foreach (var group in measured.GroupBy(r => r.Taps))
        {
            var points = group.OrderBy(r => links.IndexOf(r.LinkMbit)).ToList();
            var line = plot.Add.Scatter(points.Select(r => (double)links.IndexOf(r.LinkMbit)).ToArray(), points.Select(r => r.TokensPerSecond!.Value).ToArray());
            line.LegendText = $"{group.Key} taps";
            line.Color = colors[c++ % colors.Length];
            line.LineWidth = 2;
            line.MarkerSize = 8;
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, links.Count).Select(i => (double)i).ToArray(),
            links.Select(m => m == 0 ? "unlimited" : m >= 1000 ? $"{m / 1000.0:0.#} Gbit/s" : $"{m} Mbit/s").ToArray());
        plot.Axes.SetLimitsY(0, measured.Max(r => r.TokensPerSecond!.Value) * 1.15);
        plot.ShowLegend(Alignment.LowerLeft);
        plot.Title($"{measured[0].Shape}, 2 stages on 2 hosts: tokens/s vs link per silo (median of {results.Repeats})", size: 12);
        plot.XLabel("link per silo (tbf)");
        plot.YLabel("tokens/s");
        plot.SavePng(path, 720, 480);
        return Path.GetFileName(path);
    }
}
