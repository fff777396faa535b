using System.CommandLine;

namespace QstOrleans.Cli.Train;

/// <summary>
/// The options <c>qst train</c> and <c>qst train-local</c> share (data, schedule, optimizer, QST config,
/// precision, seed), defined once so the two trainers cannot drift apart in names, defaults or help.
/// </summary>
internal sealed class TrainingOptions
{
    public TrainingOptions(string pathsSeenBy)
    {
        Model = new Option<string?>("--model") { Description = $"HF model directory{pathsSeenBy} (default: the embedded tiny model)" };
        Data = new Option<string?>("--data") { Description = $"Training data: Alpaca, ShareGPT/OpenAI chat, {{\"text\"}} JSONL, .txt or pre-tokenized JSONL{pathsSeenBy} (default: the embedded synthetic dataset)" };
    }

    public Option<string?> Model { get; }
    public Option<string?> Data { get; }
    public Option<string> Format { get; } = new("--format") { Description = "Dataset format: auto, alpaca, chat, text, tokens", DefaultValueFactory = _ => "auto" };
    public Option<int> MaxLength { get; } = new("--max-length") { Description = "Tokens per example and packing block size (0 = max-source + max-target)", DefaultValueFactory = _ => 0 };
    public Option<bool> Pack { get; } = new("--pack") { Description = "Pack examples into blocks of exactly --max-length tokens" };
    public Option<bool> GroupByLength { get; } = new("--group-by-length") { Description = "Batch examples of similar length together (less padding)" };
    public Option<bool> SkipInvalid { get; } = new("--skip-invalid") { Description = "Drop bad records (counted in the data report) instead of failing" };
    public Option<int> Epochs { get; } = new("--epochs") { DefaultValueFactory = _ => 1 };
    public Option<int> MaxSteps { get; } = new("--max-steps") { Description = "Stop after N optimizer steps (0 = all epochs)", DefaultValueFactory = _ => 0 };
    public Option<int> MicroBatch { get; } = new("--micro-batch-size") { DefaultValueFactory = _ => 8 };
    public Option<int> Accumulation { get; } = new("--grad-accum") { DefaultValueFactory = _ => 1 };
    public Option<double> Lr { get; } = new("--lr") { DefaultValueFactory = _ => 1e-3 };
    public Option<string> Schedule { get; } = new("--schedule") { Description = "constant, constant_with_warmup, linear, cosine", DefaultValueFactory = _ => "constant" };
    public Option<int> Warmup { get; } = new("--warmup-steps") { DefaultValueFactory = _ => 0 };
    public Option<double> Clip { get; } = new("--max-grad-norm") { Description = "0 disables clipping", DefaultValueFactory = _ => 0.3 };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { DefaultValueFactory = _ => 0.0 };
    public Option<int> R { get; } = new("--r") { Description = "QST side reduction factor (d = H/r)", DefaultValueFactory = _ => 16 };
    public Option<int> Adapter { get; } = new("--adapter-dim") { Description = "QST adapter bottleneck p", DefaultValueFactory = _ => 16 };
    public Option<bool> MergeGate { get; } = new("--train-merge-gate") { Description = "Train lm_head_z (the reference never does; default false)" };
    public Option<string> Dtype { get; } = new("--dtype") { Description = "Compute dtype: bf16 or fp32", DefaultValueFactory = _ => "bf16" };
    public Option<bool> DoubleQuant { get; } = new("--double-quant") { DefaultValueFactory = _ => true };
    public Option<int> MaxSource { get; } = new("--max-source-tokens") { DefaultValueFactory = _ => 512 };
    public Option<int> MaxTarget { get; } = new("--max-target-tokens") { DefaultValueFactory = _ => 512 };
    public Option<long> Seed { get; } = new("--seed") { DefaultValueFactory = _ => 0 };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[]
                 {
                     Model, Data, Format, MaxLength, Pack, GroupByLength, SkipInvalid, Epochs, MaxSteps, MicroBatch, Accumulation,
                     Lr, Schedule, Warmup, Clip, WeightDecay, R, Adapter, MergeGate, Dtype, DoubleQuant, MaxSource, MaxTarget, Seed,
                 })
            command.Options.Add(option);
    }
}
