using QstOrleans.Cli.Cluster;
using QstOrleans.Client;
using QstOrleans.Model.Checkpoints;

namespace QstOrleans.Cli.ModelTools;

/// <summary>
/// <c>qst export SOURCE --out DIR</c>, <c>qst export --job ID --out DIR</c> or <c>qst export --side FILE --out DIR</c>: writes
/// the self-describing export folder of a trained side network (<c>side_model.safetensors</c> + <c>side_config.json</c>, see
/// <see cref="SideNetworkExport"/>). SOURCE (or <c>--run</c>) is a <c>train-local --out</c> run folder or a checkpoint folder
/// (<see cref="ExportSources"/>); <c>--job</c> downloads a cluster job's result through the cluster
/// (<see cref="QstClientResults.DownloadResultAsync"/>). The base model is the run's recorded one (checkpoints: the embedded
/// default) unless <c>--model</c> names it; a base model of another shape is refused, naming both.
/// Exit codes: 0 written, 1 the job has no result (yet), 2 bad input, 3 cluster unreachable.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var source = new Argument<string?>("source") { Description = "A run folder (train-local --out) or a checkpoint folder", Arity = ArgumentArity.ZeroOrOne };
        var run = new Option<string?>("--run") { Description = "Run folder of `qst train-local --out` (holds trainable.safetensors)" };
        var side = new Option<string?>("--side") { Description = "A trainable.safetensors file (instead of a folder)" };
        var job = new Option<string?>("--job") { Description = "A cluster job whose result to download (needs --gateway/--redis or QST_*)" };
        var model = new Option<string?>("--model") { Description = "Base model directory (default: the one the run recorded; checkpoints: the embedded default)" };
        var output = new Option<string>("--out") { Description = "Export folder to write", Required = true };
        var connection = new ClusterConnection();
        var command = new Command("export", "Export a trained QST side network (side_model.safetensors + side_config.json) from a run, a checkpoint or a cluster job.")
        {
            source, run, side, job, model, output,
        };
        connection.AddTo(command);
        command.SetAction((p, cancel) =>
        {
            string outDir = p.GetValue(output)!;
            if (p.GetValue(job) is not { } jobId)
                return Task.FromResult(CliErrors.Run(() =>
                {
                    var m = Run(p.GetValue(source) ?? p.GetValue(run), p.GetValue(side), p.GetValue(model), outDir, p.GetValue(source) is not null && p.GetValue(run) is not null);
                    Console.WriteLine($"exported the side network ({m.TrainableParameters:N0} trainable parameters, base model {m.BaseModel.Describe()}) to {outDir}");
                    return 0;
                }));
            return ClusterConnection.RunAsync(async () =>
            {
                if (p.GetValue(source) is not null || p.GetValue(run) is not null || p.GetValue(side) is not null || p.GetValue(model) is not null)
                    throw new ArgumentException("--job downloads the job's result as the cluster exported it: drop SOURCE, --run, --side and --model");
                await using var client = await connection.ConnectAsync(p, cancel);
                try
                {
                    var result = await client.DownloadResultAsync(jobId, outDir, cancel);
                    Console.WriteLine($"downloaded the result of job {jobId} (step {result.Step}: {string.Join(", ", result.Files.Select(f => $"{f.Name} {f.Size:N0} bytes"))}) to {outDir}");
                    return 0;
                }
                catch (Exception e) when (e is InvalidOperationException or InvalidDataException or IOException)
                {
                    Console.Error.WriteLine($"error: {e.Message}");
                    return 1;
                }
            });
        });
        return command;
    }

    /// <summary>Exports a run folder, a checkpoint folder or a trainable.safetensors file (exactly one of the first two arguments).</summary>
    public static SideNetworkManifest Run(string? sourcePath, string? sideFile, string? modelDirectory, string outputDirectory, bool twoFolders = false)
    {
        if (twoFolders || (sourcePath is null) == (sideFile is null)) throw new ArgumentException("give exactly one of SOURCE (or --run DIR), --side FILE or --job ID");
        if (sideFile is not null)
        {
            if (!File.Exists(sideFile)) throw new FileNotFoundException($"--side: '{sideFile}' does not exist (train with `qst train-local --out DIR` first)", sideFile);
            return SideNetworkExport.ExportTrainable(sideFile, modelDirectory, outputDirectory);
        }
        return ExportSources.Detect(sourcePath!) switch
        {
            ExportSource.Run run => SideNetworkExport.ExportTrainable(run.TrainableFile, modelDirectory, outputDirectory),
            ExportSource.Checkpoint checkpoint => SideNetworkExport.ExportCheckpoint(checkpoint.Directory,
                modelDirectory ?? Shared.EmbeddedDefaults.EnsureModel(), outputDirectory),
            _ => throw new InvalidOperationException("unreachable"),
        };
    }
}
