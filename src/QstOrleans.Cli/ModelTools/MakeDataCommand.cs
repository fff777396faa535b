using QstOrleans.Data.Datasets;

namespace QstOrleans.Cli.ModelTools;

/// <summary><c>qst make-data --out FILE [--count N] [--seed N]</c>: the synthetic learnable Alpaca JSONL the tiny model trains on.</summary>
internal static class MakeDataCommand
{
    public const int DefaultCount = 512;

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Output .jsonl file", Required = true };
        var count = new Option<int>("--count") { Description = "Number of examples", DefaultValueFactory = _ => DefaultCount }.AtLeast(1);
        var seed = new Option<int>("--seed") { Description = "Seed", DefaultValueFactory = _ => 0 };
        var command = new Command("make-data", "Write a synthetic, learnable Alpaca-format dataset (JSONL).") { output, count, seed };
        command.SetAction(r => CliErrors.Run(() =>
        {
            SyntheticDatasets.WriteAlpacaJsonl(r.GetValue(output)!, r.GetValue(count), r.GetValue(seed));
            Console.WriteLine($"wrote {r.GetValue(count)} examples to {r.GetValue(output)}");
            return 0;
        }));
        return command;
    }
}
