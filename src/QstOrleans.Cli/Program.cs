using QstOrleans.Cli.Bench;
using QstOrleans.Cli.Cluster;
using QstOrleans.Cli.Generate;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Cli.Train;

// qst: the QstOrleans command-line tool. Each sub-command lives in its topic folder (Train/, Cluster/, Generate/,
// ModelTools/, Bench/; helpers in Shared/) and owns its options.
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
    BenchCommand.Create(),
};
return root.Parse(args).Invoke();
