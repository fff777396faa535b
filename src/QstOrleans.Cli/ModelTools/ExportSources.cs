using QstOrleans.Model.Checkpoints;
using System.Text.Json;

namespace QstOrleans.Cli.ModelTools;

/// <summary>What <c>qst export</c> was pointed at.</summary>
internal abstract record ExportSource
{
    /// <summary>A <c>train-local --out</c> run folder: its <c>trainable.safetensors</c> records what export needs.</summary>
    public sealed record Run(string TrainableFile) : ExportSource;

    /// <summary>A training checkpoint folder (<c>state.json</c>, <c>side_model.safetensors</c>, <c>training_config.json</c>).</summary>
    public sealed record Checkpoint(string Directory) : ExportSource;
}

/// <summary>
/// Tells a run folder from a checkpoint folder. A checkpoint folder is either the folder holding the files or, in a local
/// checkpoint store, its step folder (<c>jobs/ID/000000000064</c>: <c>manifest.json</c> plus one folder per write attempt,
/// of which the manifest names the committed one).
/// </summary>
internal static class ExportSources
{
    /// <exception cref="DirectoryNotFoundException">The path does not exist.</exception>
    /// <exception cref="ArgumentException">It is neither kind of folder (the message names the path and what each kind holds).</exception>
    public static ExportSource Detect(string path)
    {
        if (File.Exists(path))
            throw new ArgumentException($"'{path}' is a file: give its folder (a run or checkpoint folder), or --side FILE for a trainable.safetensors");
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"'{path}' does not exist (expected a run folder or a checkpoint folder)");
        if (File.Exists(Path.Combine(path, SideNetworkExport.TrainableFile))) return new ExportSource.Run(Path.Combine(path, SideNetworkExport.TrainableFile));
        if (IsCheckpoint(path)) return new ExportSource.Checkpoint(path);
        if (CommittedAttempt(path) is { } attempt) return new ExportSource.Checkpoint(attempt);
        string hint = File.Exists(Path.Combine(path, SideNetworkExport.ConfigFile))
            ? " (it holds side_config.json: it is an export already; use it as it is)"
            : "";
        throw new ArgumentException($"'{path}' is neither a run folder (with {SideNetworkExport.TrainableFile}, from `qst train-local --out`) nor a " +
                                    $"checkpoint folder (with {TrainingCheckpoint.StateFile} and {TrainingCheckpoint.WeightsFile}, from a job's checkpoint store){hint}; " +
                                    "for a cluster job use --job ID");
    }

    static bool IsCheckpoint(string directory) =>
        File.Exists(Path.Combine(directory, TrainingCheckpoint.StateFile)) && File.Exists(Path.Combine(directory, TrainingCheckpoint.WeightsFile));

    /// <summary>A local store's step folder: the attempt folder its <c>manifest.json</c> names (<c>"attempt"</c>).</summary>
    static string? CommittedAttempt(string stepFolder)
    {
        string manifestPath = Path.Combine(stepFolder, "manifest.json");
        if (!File.Exists(manifestPath)) return null;
        string? attempt;
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(manifestPath));
            attempt = json.RootElement.EnumerateObject().FirstOrDefault(p => p.Name.Equals("attempt", StringComparison.OrdinalIgnoreCase)).Value
                is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{manifestPath}: not a checkpoint manifest ({e.Message})", e);
        }
        if (string.IsNullOrEmpty(attempt) || attempt.Contains('/') || attempt.Contains('\\') || attempt.StartsWith('.'))
            throw new InvalidDataException($"{manifestPath}: names no attempt folder");
        string folder = Path.Combine(stepFolder, attempt);
        return IsCheckpoint(folder) ? folder : null;
    }
}
