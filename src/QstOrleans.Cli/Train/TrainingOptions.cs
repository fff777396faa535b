using System.Text.Json;
using System.Text.Json.Nodes;
using QstOrleans.Configuration;

namespace QstOrleans.Cli.Train;

/// <summary>
/// The training options of <c>qst train</c> and <c>qst train-local</c>: <c>--model</c>, <c>--data</c>, <c>--config FILE</c>
/// and one option per <see cref="TrainingConfigKeys"/> entry the command uses. No option carries a default of its own:
/// <see cref="Resolve"/> starts from <see cref="TrainingConfig.Defaults"/>, applies the file, then the options given on
/// the command line, and validates once; the help text shows the default read from the record.
/// </summary>
internal sealed class TrainingOptions
{
    readonly List<(string Key, Func<ParseResult, JsonNode?> Given)> _overrides = [];
    readonly List<Option> _options = [];

    /// <param name="pathsSeenBy">Appended to the path options' help (", as the silos see it").</param>
    /// <param name="uses">Which config keys this command exposes as options (the others stay settable in the file).</param>
    public TrainingOptions(string pathsSeenBy, Func<string, bool> uses)
    {
        Model = new Option<string?>("--model") { Description = $"HF model directory{pathsSeenBy} (default: the embedded tiny model)" };
        Data = new Option<string?>("--data") { Description = $"Training data: Alpaca, ShareGPT/OpenAI chat, {{\"text\"}} JSONL, .txt or pre-tokenized JSONL{pathsSeenBy} (default: the embedded synthetic dataset)" };
        Config = new Option<string?>("--config") { Description = "JSON training config (the keys a run prints at its start; absent keys keep their defaults); options given here override it" };
        _options.AddRange([Model, Data, Config]);
        foreach (var entry in TrainingConfigKeys.All.Where(e => uses(e.Key)))
        {
            var type = TrainingConfigKeys.TypeOf(entry.Key);
            string description = $"{entry.Description} [{entry.Key}, default {TrainingConfigFile.Value(TrainingConfig.Defaults, entry.Key)?.ToJsonString()}]";
            if (type == typeof(int)) Add<int>(entry, description);
            else if (type == typeof(long)) Add<long>(entry, description);
            else if (type == typeof(double)) Add<double>(entry, description);
            else if (type == typeof(float)) Add<float>(entry, description);
            else if (type == typeof(bool)) Add<bool>(entry, description);
            else Add<string>(entry, description);
        }
    }

    public Option<string?> Model { get; }
    public Option<string?> Data { get; }
    public Option<string?> Config { get; }

    void Add<T>(TrainingConfigKeys.Entry entry, string description)
    {
        var option = new Option<T>(entry.Option) { Description = description };
        _options.Add(option);
        // Only an option the user typed overrides the file (a flag absent from the command line has an implicit result: skipped).
        _overrides.Add((entry.Key, p => p.GetResult(option) is { Implicit: false } ? JsonSerializer.SerializeToNode(p.GetValue(option)) : null));
    }

    /// <summary>Defaults, then <c>--config</c>, then the options given; validated.</summary>
    /// <exception cref="ArgumentException">A bad file, key or value (the message names the file and key).</exception>
    public TrainingConfig Resolve(ParseResult p) => TrainingConfigFile.Load(p.GetValue(Config),
        _overrides.Select(o => KeyValuePair.Create(o.Key, o.Given(p))).Where(o => o.Value is not null));

    public void AddTo(Command command)
    {
        foreach (var option in _options) command.Options.Add(option);
    }

    /// <summary>The header every run prints first: the resolved config in full.</summary>
    public static string Announce(TrainingConfig config) => $"config: {config.ToJson()}";
}
