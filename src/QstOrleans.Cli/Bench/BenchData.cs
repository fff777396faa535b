using System.Diagnostics;
using System.Text.Json;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Configuration;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Datasets.Cache;
using QstOrleans.Data.Tokenization;
using QstOrleans.Data.Tokenization.Caching;
using QstOrleans.Model.Recipe;

namespace QstOrleans.Cli.Bench;

/// <summary>
/// <c>qst bench data</c>: the data path at scale (issue 17's targets) on N synthetic short Alpaca rows with the tiny
/// model's tokenizer. Measures, once each, side by side: the baseline, i.e. the single-threaded load + tokenize with the
/// encoder as it was before the token cache and its word cache (<see cref="EncoderOptions.Uncached"/>); the token-cache
/// build as training runs it (hash, parse, tokenize on every core with the word cache, write), checked to give the
/// baseline's ids exactly; and a resume: a fresh tokenizer, the data plan from the cache, and the first micro-batch.
/// Writes data.json to <c>--out</c> with the load average before and after. Takes minutes at 1M rows: never run by
/// the tests.
/// </summary>
internal static class BenchData
{
    /// <summary>The JSON record (snake_case, as the other bench results).</summary>
    sealed record DataBenchResult(
        int Rows, long Tokens, int Cores, double SingleThreadSeconds, double BuildSeconds, double Speedup,
        double ResumeFirstStepSeconds, string ResumeFirstStepMeasures, string Machine, string Baseline, string LoadAverage);

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Results directory", DefaultValueFactory = _ => Path.Combine("tests", "bench", "results") };
        var rows = new Option<int>("--rows") { Description = "Synthetic rows (>= 1000)", DefaultValueFactory = _ => 1_000_000 };
        var command = new Command("data", "Token cache: single-threaded tokenization vs the parallel cache build, and a resume's time to the first batch")
            { output, rows };
        command.SetAction(p => CliErrors.Run(() =>
        {
            int n = p.GetValue(rows);
            if (n < 1000) throw new ArgumentException($"--rows must be >= 1000, got {n}");
            Run(n, p.GetValue(output)!);
            return 0;
        }));
        return command;
    }

    static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    static void Run(int rows, string output)
    {
        string work = Path.Combine(Path.GetTempPath(), "qst-bench-data-" + Guid.NewGuid().ToString("N"));
        try
        {
            string model = Path.Combine(work, "tiny"), data = Path.Combine(work, "data.jsonl");
            MakeModelCommand.Run("tiny", model, seed: 0);
            SyntheticDatasets.WriteAlpacaJsonl(data, rows, seed: 0);
            var config = TrainingConfig.Defaults;
            var options = DataPlan.Options(config.Data);
            var cacheOptions = new TokenCacheOptions(CacheRoot: Path.Combine(work, "root"), Report: TokenCacheProgress.Display ?? TokenCacheProgress.WriteLine);

            string loadBefore = LoadAverage();
            var tokenizer = ModelTokenizer.Load(model);
            var baseline = ModelTokenizer.Load(model, EncoderOptions.Uncached);
            var template = ChatTemplate.FromModelDirectory(model, tokenizer.BosToken, tokenizer.EosToken);
            var clock = Stopwatch.StartNew();
            var single = TokenCache.Load(data, baseline, template, model, options, cacheOptions with { Enabled = false, MaxDegreeOfParallelism = 1 });
            double singleSeconds = clock.Elapsed.TotalSeconds;
            Console.Error.WriteLine();

            clock.Restart();
            var built = TokenCache.Load(data, tokenizer, template, model, options, cacheOptions);
            double buildSeconds = clock.Elapsed.TotalSeconds;
            if (built.Hit || built.Examples.Count != single.Examples.Count)
                throw new InvalidOperationException($"the cache build gave {built.Examples.Count} examples (hit: {built.Hit}), single-threaded {single.Examples.Count}");
            for (int i = 0; i < single.Examples.Count; i++)
                if (!built.Examples[i].InputIds.AsSpan().SequenceEqual(single.Examples[i].InputIds) || !built.Examples[i].Labels.AsSpan().SequenceEqual(single.Examples[i].Labels))
                    throw new InvalidOperationException($"example {i + 1}: the cache build's ids or labels differ from the baseline's");

            // A resume: what a restarted process does before its first step (the model itself is loaded in parallel in a job).
            clock.Restart();
            var fresh = ModelTokenizer.Load(model);
            var plan = DataPlan.For(DataPlan.Load(config, data, fresh, model, cacheOptions), config.Schedule, data);
            var first = plan.Epoch(0).First();
            double resumeSeconds = clock.Elapsed.TotalSeconds;
            if (fresh.EncodeCalls != 0) throw new InvalidOperationException($"the resume tokenized {fresh.EncodeCalls} texts: the cache was not used");

            var result = new DataBenchResult(rows, single.Examples.Sum(e => (long)e.Length), Environment.ProcessorCount, Math.Round(singleSeconds, 3),
                Math.Round(buildSeconds, 3), Math.Round(singleSeconds / buildSeconds, 2), Math.Round(resumeSeconds, 3),
                $"fresh tokenizer + DataPlan.Load (cache hit: hash the file, map the cache) + plan + first micro-batch [{first.BatchSize}, {first.SequenceLength}]",
                $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
                "single-threaded, encoder without the word cache (EncoderOptions.Uncached): the tokenization before this speed-up",
                $"before {loadBefore}; after {LoadAverage()} (1/5/15-minute, /proc/loadavg)");
            Directory.CreateDirectory(output);
            string file = Path.Combine(output, "data.json");
            File.WriteAllText(file, JsonSerializer.Serialize(result, new JsonSerializerOptions
                { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }) + "\n");
            Console.WriteLine($"{rows} rows: single-threaded {singleSeconds:F1} s, cache build {buildSeconds:F1} s " +
                              $"({singleSeconds / buildSeconds:F2}x), resume to the first batch {resumeSeconds:F2} s; wrote {file}");
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }
}
