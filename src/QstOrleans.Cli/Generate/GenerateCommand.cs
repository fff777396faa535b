using QstOrleans.Model.Generation;

namespace QstOrleans.Cli.Generate;

/// <summary>Everything <c>qst generate</c> and <c>qst chat</c> need, as one record (tests build it directly).</summary>
public sealed record GenerateSettings
{
    /// <summary>HF model directory; null = the embedded tiny model.</summary>
    public string? Model { get; init; }
    /// <summary>Trained side weights: trainable.safetensors from <c>qst train-local --out</c>, or an export folder
    /// (side_model.safetensors + side_config.json); null = plain model.</summary>
    public string? Side { get; init; }
    public string Prompt { get; init; } = "";
    public int MaxNewTokens { get; init; } = 128;
    public double Temperature { get; init; }
    public double TopP { get; init; } = 1.0;
    public long Seed { get; init; }
    public bool Nf4 { get; init; }
    public string Dtype { get; init; } = "bf16";
    /// <summary>Recompute the whole prefix every step instead of using the KV cache (checks and benchmarks).</summary>
    public bool NoCache { get; init; }
    /// <summary>libtorch intra-op threads; 0 keeps libtorch's default. On a busy or small machine 1 is often fastest for small models.</summary>
    public int Threads { get; init; }
    /// <summary><c>qst chat --chat-template</c>: null = the model's own template (else Alpaca), <c>alpaca</c> or a file.</summary>
    public string? ChatTemplate { get; init; }

    internal GenerationOptions Options(IReadOnlyCollection<int> stopTokens) =>
        new(MaxNewTokens, Temperature, TopP, Seed, stopTokens, UseCache: !NoCache);
}

/// <summary>
/// <c>qst generate --model DIR [--side FILE|DIR] --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-p P]
/// [--seed S] [--nf4] [--dtype bf16|fp32] [--no-cache] [--threads N]</c>: continues the prompt (BOS + prompt tokens, no template) with the
/// KV-cached generator, printing text as the tokens arrive; a summary (token count, stop reason, tokens/s) goes
/// to stderr.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var (model, side, maxNew, temperature, topP, seed, nf4, dtype, threads) = CommonOptions();
        var prompt = new Option<string>("--prompt") { Description = "Text to continue", Required = true };
        var noCache = new Option<bool>("--no-cache") { Description = "Recompute the whole prefix every step (slow; to check or benchmark the KV cache)" };
        var command = new Command("generate", "Generate a continuation of a prompt, streaming the text (QST with --side, else the plain model).")
        {
            model, side, prompt, maxNew, temperature, topP, seed, nf4, dtype, noCache, threads,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var settings = new GenerateSettings
            {
                Model = r.GetValue(model), Side = r.GetValue(side), Prompt = r.GetValue(prompt)!,
                MaxNewTokens = r.GetValue(maxNew), Temperature = r.GetValue(temperature), TopP = r.GetValue(topP),
                Seed = r.GetValue(seed), Nf4 = r.GetValue(nf4), Dtype = r.GetValue(dtype)!, NoCache = r.GetValue(noCache),
                Threads = r.GetValue(threads),
            };
            Run(settings, Console.Out, Console.Error);
            return 0;
        }));
        return command;
    }

    /// <summary>The options <c>generate</c> and <c>chat</c> share.</summary>
    internal static (Option<string?> Model, Option<string?> Side, Option<int> MaxNew, Option<double> Temperature, Option<double> TopP,
        Option<long> Seed, Option<bool> Nf4, Option<string> Dtype, Option<int> Threads) CommonOptions() =>
    (
        new Option<string?>("--model") { Description = "HF model directory (default: the embedded tiny model)" },
        new Option<string?>("--side") { Description = "Trained QST side network: trainable.safetensors, or an export folder (qst export / train-local --out)" },
        new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 128 }.AtLeast(1),
        new Option<double>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0.0 }.Within(0, double.PositiveInfinity),
        new Option<double>("--top-p") { Description = "Nucleus sampling mass (with temperature > 0)", DefaultValueFactory = _ => 1.0 }.Within(0, 1, minExclusive: true),
        new Option<long>("--seed") { Description = "Sampling seed", DefaultValueFactory = _ => 0 },
        new Option<bool>("--nf4") { Description = "Quantize the backbone to NF4 (double quant) while loading" },
        new Option<string>("--dtype") { Description = "Compute dtype: bf16 or fp32", DefaultValueFactory = _ => "bf16" },
        new Option<int>("--threads") { Description = "libtorch threads (0 = libtorch's default)", DefaultValueFactory = _ => 0 }.AtLeast(0)
    );

    /// <summary>Loads the model, streams the generated text to <paramref name="output"/> and returns the result.</summary>
    public static GenerationResult Run(GenerateSettings s, TextWriter output, TextWriter? status = null)
    {
        using var loaded = LoadedGenerator.Load(s.Model, s.Side, s.Nf4, s.Dtype, s.Threads);
        status?.WriteLine(loaded.Description);
        var prompt = loaded.Tokenizer.Encode(s.Prompt, addBos: true);
        var decoder = new IncrementalDecoder(loaded.Tokenizer);
        var result = loaded.Generator.Generate(prompt.ToList(), s.Options(loaded.StopTokens), id =>
        {
            output.Write(decoder.Push(id));
            output.Flush();
        });
        output.Write(decoder.Flush());
        output.WriteLine();
        status?.WriteLine(Summary(prompt.Count, result));
        return result;
    }

    internal static string Summary(int promptTokens, GenerationResult r) => string.Create(CultureInfo.InvariantCulture,
        $"[{r.Tokens.Count} tokens, stop: {r.Reason}, prompt {promptTokens} tokens in {r.Prefill.TotalMilliseconds:F0} ms, " +
        $"decode {(r.DecodeTokensPerSecond is { } tps ? $"{tps:F1} tokens/s" : "n/a")}]");
}
