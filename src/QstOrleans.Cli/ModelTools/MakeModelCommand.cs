using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;

namespace QstOrleans.Cli.ModelTools;

/// <summary>
/// <c>qst make-model --preset tiny --out DIR [--seed N]</c>: a complete HF-format Llama directory
/// (config.json, model.safetensors, tokenizer.model, tokenizer_config.json) with seeded random
/// weights. The Llama-2 7B/13B/70B presets write config.json only (shape checks, no weights).
/// </summary>
internal static class MakeModelCommand
{
    /// <summary>Vocabulary of the tiny model's tokenizer (learned on the synthetic corpus).</summary>
    public const int TinyVocabSize = 512;

    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Model shape: {string.Join(", ", ModelPresets.Names)}", DefaultValueFactory = _ => "tiny" };
        var output = new Option<string>("--out") { Description = "Output model directory", Required = true };
        var seed = new Option<long>("--seed") { Description = "Seed of the random weights", DefaultValueFactory = _ => 0 };
        var command = new Command("make-model", "Write a Hugging Face-format Llama model directory with seeded random weights.") { preset, output, seed };
        command.SetAction(r => CliErrors.Run(() =>
        {
            Run(r.GetValue(preset)!, r.GetValue(output)!, r.GetValue(seed));
            return 0;
        }));
        return command;
    }

    public static void Run(string preset, string outputDirectory, long seed)
    {
        Directory.CreateDirectory(outputDirectory);
        if (preset != "tiny" && ModelPresets.WithWeights.Contains(preset))
        {
            // Benchmark shapes: seeded random bf16 weights and config.json, no tokenizer (benchmarks feed token ids).
            var shape = ModelPresets.Get(preset);
            RandomModelWriter.Write(outputDirectory, shape, seed);
            Console.WriteLine($"wrote {preset} (H={shape.HiddenSize}, layers={shape.NumLayers}, vocab={shape.VocabSize}, seed={seed}, random weights, no tokenizer) to {outputDirectory}");
            return;
        }
        if (preset != "tiny")
        {
            ModelPresets.Get(preset).Save(Path.Combine(outputDirectory, "config.json"));
            Console.WriteLine($"wrote {preset} config (shape only, no weights) to {outputDirectory}");
            return;
        }
        // The tokenizer is learned on the synthetic dataset's text, so the tiny model's sequences stay short.
        var records = SyntheticDatasets.Generate(MakeDataCommand.DefaultCount, (int)seed);
        var pieces = TinyTokenizerBuilder.Build(SyntheticDatasets.TokenizerCorpus(records), TinyVocabSize);
        int vocab = SentencePieceModelWriter.WriteHfTokenizerFiles(outputDirectory, pieces);
        var config = ModelPresets.Get("tiny", vocabSize: vocab) with { Name = Path.GetFileName(Path.GetFullPath(outputDirectory)) };
        RandomModelWriter.Write(outputDirectory, config, seed);
        Console.WriteLine($"wrote tiny Llama (H={config.HiddenSize}, layers={config.NumLayers}, vocab={config.VocabSize}, seed={seed}) to {outputDirectory}");
    }
}
