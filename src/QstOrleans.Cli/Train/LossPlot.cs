using QstOrleans.Model.Metrics;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Train;

/// <summary>
/// Draws a run's loss curve with ScottPlot: the training loss per optimizer step as a line and the validation
/// loss as markers on the evaluated steps. Non-finite values (a diverged step) are left out.
/// Throws <see cref="ArgumentException"/> when there is no finite training loss to draw.
/// </summary>
internal static class LossPlot
{
    public const string FileName = "loss.png";

    public static void Write(IReadOnlyList<MetricsRecord> records, string pngPath, string title, int width = 900, int height = 540)
    {
        var train = records.Where(r => double.IsFinite(r.Loss)).ToList();
        if (train.Count == 0) throw new ArgumentException($"{title}: no finite training loss to plot");
        var validation = records.Where(r => r.ValLoss is { } v && double.IsFinite(v)).ToList();

        var plot = new ScottPlot.Plot();
        var line = plot.Add.Scatter(train.Select(r => (double)r.Step).ToArray(), train.Select(r => r.Loss).ToArray());
        line.LegendText = "train loss";
        line.MarkerSize = train.Count == 1 ? 5 : 0;
        if (validation.Count > 0)
        {
            var points = plot.Add.Scatter(validation.Select(r => (double)r.Step).ToArray(), validation.Select(r => r.ValLoss!.Value).ToArray());
            points.LegendText = "validation loss";
            points.LineWidth = 0;
            points.MarkerSize = 8;
        }
        plot.Title(title);
        plot.XLabel("optimizer step");
        plot.YLabel("loss (nats/token)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(pngPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        plot.SavePng(pngPath, width, height);
    }
}
