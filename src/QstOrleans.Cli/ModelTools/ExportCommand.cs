using QstOrleans.Model.Checkpoints;

namespace QstOrleans.Cli.ModelTools;

/// <summary>
/// <c>qst export --run DIR --out DIR</c> or <c>qst export --side FILE --model DIR --out DIR</c>: turns a QST run's
/// <c>trainable.safetensors</c> into the self-describing export folder (<c>side_model.safetensors</c> +
/// <c>side_config.json</c>, see <see cref="SideNetworkExport"/>). The base model is the run's recorded one unless
/// <c>--model</c> names it; a base model of another shape is refused, naming both.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var run = new Option<string?>("--run") { Description = "Run folder of `qst train-local --out` (holds trainable.safetensors)" };
        var side = new Option<string?>("--side") { Description = "A trainable.safetensors file (instead of --run)" };
        var model = new Option<string?>("--model") { Description = "Base model directory (default: the one the run recorded)" };
        var output = new Option<string>("--out") { Description = "Export folder to write", Required = true };
        var command = new Command("export", "Export a trained QST side network (side_model.safetensors + side_config.json).") { run, side, model, output };
        command.SetAction(p => CliErrors.Run(() =>
        {
            var m = Run(p.GetValue(run), p.GetValue(side), p.GetValue(model), p.GetValue(output)!);
            Console.WriteLine($"exported the side network ({m.TrainableParameters:N0} trainable parameters, base model {m.BaseModel.Describe()}) to {p.GetValue(output)}");
            return 0;
        }));
        return command;
    }

    public static SideNetworkManifest Run(string? runDirectory, string? sideFile, string? modelDirectory, string outputDirectory)
    {
        if ((runDirectory is null) == (sideFile is null)) throw new ArgumentException("give exactly one of --run DIR or --side FILE");
        string file = sideFile ?? Path.Combine(runDirectory!, SideNetworkExport.TrainableFile);
        if (!File.Exists(file)) throw new FileNotFoundException($"'{file}' does not exist (train with `qst train-local --out DIR` first)", file);
        return SideNetworkExport.ExportTrainable(file, modelDirectory, outputDirectory);
    }
}
