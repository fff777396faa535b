using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;

namespace QstOrleans.Cli.Bench.Compare;

/// <summary>
/// <c>qst bench compare</c>: the paper's comparison on one shape, interleaved. Every configuration (a method, with or
/// without per-layer gradient checkpointing) trains in its own <c>qst bench run-one</c> process, in the order
/// A B C, B C A, C A B … for <c>--rounds</c> rounds (each round starts one configuration later), so a burst of load on the
/// shared machine lands on all of them alike and none always runs first.
/// Per configuration: the median tokens/s over every measured step of every round (min–max), the training peak RSS
/// and its height above the after-load level. The records replace this shape's earlier ones in <c>results.json</c>
/// (written again after every process, so an interrupted run keeps what it measured); RESULTS.md is rendered from it.
/// A failed process is a note; the rest still runs.
/// </summary>
internal static class CompareCommand
{
    const string DefaultConfigs = "qst,qlora,qlora+gc,lora,lora+gc,full,full+gc";

    public static Command Create()
    {
        var shape = new Option<string>("--shape") { Description = "A `qst make-model` preset (tiny, llama-134m, llama-1b, …): written once with seeded random weights", DefaultValueFactory = _ => "llama-134m" };
        var model = new Option<string?>("--model") { Description = "Use this model folder instead of writing --shape's" };
        var configs = new Option<string>("--configs") { Description = "Comma-separated configurations: a method (qst, qst-cached, qlora, lora, full), +gc for gradient checkpointing " +
            "(qlora+gc), :heads=N for QST with N side attention heads (qst:heads=1; plain qst = the backbone's count), " +
            ":bf16-scores for QST's side attention scores in bf16 (qst:bf16-scores, qst:heads=1:bf16-scores), " +
            "and last :fused or :eager for that attention kernel instead of the engine's recompute one (qst:fused, qlora+gc:eager)", DefaultValueFactory = _ => DefaultConfigs };
        var rounds = new Option<int>("--rounds") { DefaultValueFactory = _ => 2 };
        var steps = new Option<int>("--steps") { Description = "Measured steps per process", DefaultValueFactory = _ => 8 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed steps per process before the measured ones", DefaultValueFactory = _ => 2 };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 4 };
        var seq = new Option<int>("--seq") { DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2 };
        var timeout = new Option<int>("--timeout-minutes") { Description = "Per process", DefaultValueFactory = _ => 60 };
        var notes = new Option<string[]>("--note") { Description = "A note for RESULTS.md (e.g. why a configuration was left out); repeatable", AllowMultipleArgumentsPerToken = false };
        var output = new Option<string>("--out") { Description = "Results directory", DefaultValueFactory = _ => Path.Combine("tests", "bench", "results") };
        var command = new Command("compare", "QST, QLoRA, LoRA and full fine-tuning with and without gradient checkpointing, interleaved, one process each")
            { shape, model, configs, rounds, steps, warmup, batch, seq, threads, timeout, notes, output };
        command.SetAction(p => CliErrors.Run(() =>
        {
            var settings = new CompareSettings(p.GetValue(shape)!, p.GetValue(model), CompareConfig.ParseList(p.GetValue(configs)!), Positive(p.GetValue(rounds), "--rounds"),
                Positive(p.GetValue(steps), "--steps"), NonNegative(p.GetValue(warmup), "--warmup"), Positive(p.GetValue(batch), "--batch"),
                Positive(p.GetValue(seq), "--seq"), Positive(p.GetValue(threads), "--threads"), TimeSpan.FromMinutes(Positive(p.GetValue(timeout), "--timeout-minutes")),
                p.GetValue(notes) ?? [], p.GetValue(output)!);
            string line = "qst bench " + string.Join(' ', Environment.GetCommandLineArgs().SkipWhile(a => a != "bench").Skip(1));
            Run(settings, line, Console.Out);
            return 0;
        }));
        return command;
    }

    static int Positive(int v, string option) => v > 0 ? v : throw new ArgumentException($"{option}: must be at least 1 (got {v})");
    static int NonNegative(int v, string option) => v >= 0 ? v : throw new ArgumentException($"{option}: must not be negative (got {v})");

    sealed record CompareSettings(string Shape, string? Model, IReadOnlyList<CompareConfig> Configs, int Rounds, int Steps, int Warmup,
        int Batch, int Sequence, int Threads, TimeSpan Timeout, IReadOnlyList<string> Notes, string Output);

    static void Run(CompareSettings s, string commandLine, TextWriter log)
    {
        string? temp = null;
        string modelDir;
        if (s.Model is { } given)
        {
            if (!File.Exists(Path.Combine(given, "config.json"))) throw new ArgumentException($"--model: {given} holds no config.json");
            modelDir = given;
        }
        else
        {
            var config = ModelPresets.Get(s.Shape);   // throws naming the unknown preset
            temp = Directory.CreateTempSubdirectory("qst-compare-").FullName;
            modelDir = Path.Combine(temp, s.Shape);
            log.WriteLine($"writing random {s.Shape} ({MemoryModel.TotalParameters(config) / 1e6:F0} M parameters) to {modelDir}");
            RandomModelWriter.Write(modelDir, config, seed: 5);
        }
        try
        {
            Measure(s, modelDir, commandLine, log);
        }
        finally
        {
            if (temp is not null) try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    static void Measure(CompareSettings s, string modelDir, string commandLine, TextWriter log)
    {
        var schedule = CompareRounds.Schedule(s.Configs, s.Rounds);
        var runs = s.Configs.ToDictionary(c => c, _ => new List<(int Position, MethodRun Run)>());
        var notes = new List<string>(s.Notes);
        var started = DateTimeOffset.UtcNow;
        string loadAtStart = BenchCommand.LoadAverage();
        // The order is rotated per round (CompareRounds.Schedule); each record's Positions say where its processes ran.
        log.WriteLine($"{schedule.Count} processes: {string.Join(" | ", Enumerable.Range(0, s.Rounds).Select(r => string.Join(' ', schedule.Where(x => x.Round == r).Select(x => x.Config.Label))))}");
        for (int i = 0; i < schedule.Count; i++)
        {
            var (round, config) = schedule[i];
            string[] args = ["bench", "run-one", "--model", modelDir, "--method", config.Method, "--batch", Str(s.Batch), "--seq", Str(s.Sequence),
                "--warmup", Str(s.Warmup), "--steps", Str(s.Steps), "--threads", Str(s.Threads)];
            try
            {
                if (config.GradientCheckpointing) args = [.. args, "--gradient-checkpointing"];
                if (config.SideHeads > 0) args = [.. args, "--side-heads", Str(config.SideHeads)];
                args = [.. args, "--attention", config.Attention];
                // Explicit either way, so a row's label says what ran whatever qst.side_scores_bf16's default is.
                if (config.Method.StartsWith("qst", StringComparison.Ordinal)) args = [.. args, "--side-scores-bf16", config.SideScoresBf16 ? "true" : "false"];
                var run = BenchChild.Run<MethodRun>(args, log, s.Timeout);
                runs[config].Add((i, run));
                log.WriteLine($"[{DateTimeOffset.UtcNow:HH:mm:ss}] round {round + 1}/{s.Rounds} {config.Label}: {run.TokensPerSecond:F1} tokens/s " +
                    $"(steps {string.Join(", ", run.StepTokensPerSecond.Select(t => t.ToString("F1", CultureInfo.InvariantCulture)))}), " +
                    $"peak {run.PeakRssTraining >> 20} MiB, {(run.PeakRssTraining - run.RssAfterLoad) >> 20} MiB above load; load {BenchCommand.LoadAverage()}");
            }
            catch (InvalidOperationException e)
            {
                log.WriteLine($"round {round + 1} {config.Label} FAILED: {e.Message}");
                notes.Add($"{s.Shape} {config.Label} round {round + 1} failed: {e.Message.Split('\n')[0]}");
            }
            // Written after every process: an interrupted run keeps what it measured.
            string load = $"{loadAtStart} at the start, {BenchCommand.LoadAverage()} at the end";
            var records = runs.Where(kv => kv.Value.Count > 0)
                .Select(kv => CompareRounds.Summarize(kv.Key, kv.Value.Select(x => x.Run).ToList(), kv.Value.Select(x => x.Position).ToList(), commandLine, started, load))
                .ToList();
            Save(s.Output, records, notes, log);
        }
    }

    static void Save(string output, IReadOnlyList<ComparedRun> records, IReadOnlyList<string> notes, TextWriter log)
    {
        string file = Path.Combine(output, "results.json");
        var existing = File.Exists(file)
            ? BenchJson.Deserialize<BenchResults>(File.ReadAllText(file))
            : new BenchResults { Command = "(no `qst bench all` run yet)", Machine = "" };
        var merged = CompareRounds.Merge(existing, records);
        var fresh = notes.Where(n => !merged.Notes.Contains(n)).ToList();
        BenchCommand.Write(merged with { Notes = [.. merged.Notes, .. fresh] }, output, TextWriter.Null);
        log.WriteLine($"  wrote {file} ({records.Count} configurations so far)");
    }

    static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);
}
