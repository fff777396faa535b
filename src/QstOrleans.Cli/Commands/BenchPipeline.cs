using System.CommandLine;
using QstOrleans.Model.Benchmarks;

namespace QstOrleans.Cli.Commands;

/// <summary>Pipeline scaling and grain traffic (filled in once the in-process cluster lands on main).</summary>
internal static class BenchPipeline
{
    public static Command RunCommand()
    {
        var command = new Command("run-pipeline", "One pipeline run (used by `qst bench`)") { Hidden = true };
        command.SetAction(_ => 0);
        return command;
    }

    public static void RunAll(BenchModel model, string modelDirectory, int threads, BenchResults results, TextWriter log) =>
        results.Notes.Add("pipeline scaling: not run in this build");
}
