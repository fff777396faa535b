using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Cli.Shared;

/// <summary>
/// The embedded default: a tiny Llama (made by this tool, seeded) and a synthetic learnable Alpaca
/// dataset, created on first use under <c>$XDG_CACHE_HOME/qstorleans</c> (or <c>~/.cache/qstorleans</c>),
/// so the README's first command needs no download and no arguments.
/// </summary>
internal static class EmbeddedDefaults
{
    public static string Root => Path.Combine(
        Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
        "qstorleans");

    public static string ModelDirectory => Path.Combine(Root, "tiny-seed0");
    public static string DataFile => Path.Combine(Root, "synthetic-alpaca-seed0.jsonl");
    /// <summary>Job state and checkpoints of <c>qst train --local</c> (so a killed run can resume).</summary>
    public static string StateDirectory => Path.Combine(Root, "local-state");

    public static string EnsureModel()
    {
        if (!File.Exists(Path.Combine(ModelDirectory, "config.json")))
        {
            Console.WriteLine($"making the embedded tiny model in {ModelDirectory}");
            MakeModelCommand.Run("tiny", ModelDirectory, seed: 0);
        }
        return ModelDirectory;
    }

    public static string EnsureData()
    {
        if (!File.Exists(DataFile))
        {
            Directory.CreateDirectory(Root);
            SyntheticDatasets.WriteAlpacaJsonl(DataFile, MakeDataCommand.DefaultCount, seed: 0);
        }
        return DataFile;
    }
}
