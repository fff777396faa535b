using QstOrleans.Model.Metrics;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Train;

/// <summary>
/// <c>qst plot RUN_DIR [--out FILE]</c>: redraws a run's loss curve (<c>loss.png</c> in the run folder by default)
/// from its <c>metrics.jsonl</c>. Errors: a missing metrics file, a bad line (<c>file:line</c>), no finite loss.
/// </summary>
internal static class PlotCommand
{
    public static Command Create()
    {
        var run = new Argument<string>("RUN_DIR") { Description = "Run folder holding metrics.jsonl (train-local --out)" };
        var output = new Option<string?>("--out") { Description = "PNG file to write (default: RUN_DIR/loss.png)" };
        var command = new Command("plot", "Draw a run's loss curve from its metrics.jsonl.") { run, output };
        command.SetAction(p => CliErrors.Run(() =>
        {
            Console.WriteLine($"wrote {Run(p.GetValue(run)!, p.GetValue(output))}");
            return 0;
        }));
        return command;
    }

    /// <summary>Draws the plot; returns the PNG path.</summary>
    public static string Run(string runDirectory, string? output = null)
    {
        if (!Directory.Exists(runDirectory)) throw new DirectoryNotFoundException($"run folder '{runDirectory}' does not exist");
        var records = MetricsWriter.Read(Path.Combine(runDirectory, MetricsWriter.FileName));
        string png = output ?? Path.Combine(runDirectory, LossPlot.FileName);
        LossPlot.Write(records, png, Path.GetFileName(Path.GetFullPath(runDirectory).TrimEnd(Path.DirectorySeparatorChar)));
        return png;
    }
}
