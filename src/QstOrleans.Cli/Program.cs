using QstOrleans.Cli.Bench;
using QstOrleans.Cli.Cluster;
using QstOrleans.Cli.Evaluate;
using QstOrleans.Cli.Generate;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Cli.Train;

// qst: the QstOrleans command-line tool. Each sub-command lives in its topic folder (Train/, Cluster/, Generate/,
// ModelTools/, Bench/; helpers in Shared/) and owns its options. Exit codes: see CliErrors.
var root = new RootCommand("QstOrleans: Quantized Side Tuning of Llama/OPT models on NF4 backbones.")
{
    MakeModelCommand.Create(),
    MakeDataCommand.Create(),
    QuantizeCommand.Create(),
    LogitsCommand.Create(),
    TokenCommands.CreateTokenize(),
    TokenCommands.CreateDetokenize(),
    TrainLocalCommand.Create(),
    TrainCommand.Create(),
    UploadCommand.Create(),
    JobsCommand.Create(),
    StatusCommand.Create(),
    JobControlCommands.Cancel(),
    JobControlCommands.Pause(),
    ResumeCommand.Create(),
    CheckpointsCommand.Create(),
    ExportCommand.Create(),
    PlotCommand.Create(),
    GenerateCommand.Create(),
    ChatCommand.Create(),
    EvalCommand.Create(),
    BenchCommand.Create(),
};
QstOrleans.Cli.Shared.TokenCacheProgressBar.Install();
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // Once, on stderr, with exit code 2 like every other bad input (System.CommandLine would add the whole help and exit 1).
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
    Console.Error.WriteLine($"see `{CommandPath(parsed.CommandResult)} --help`");
    return CliErrors.BadInput;
}
if (!Interrupts.Handles(parsed.CommandResult.Command)) return parsed.Invoke();
// This command saves its work on Ctrl+C: no forced exit two seconds after the signal.
using var interrupts = Interrupts.Install();
return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, interrupts.Token);

static string CommandPath(System.CommandLine.Parsing.CommandResult result) =>
    result.Parent is System.CommandLine.Parsing.CommandResult parent ? $"{CommandPath(parent)} {result.Command.Name}" : "qst";
