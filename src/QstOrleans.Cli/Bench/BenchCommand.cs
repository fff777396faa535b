using QstOrleans.Model.Attention;
using QstOrleans.Model.Layers;
using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Configuration;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;

namespace QstOrleans.Cli.Bench;

/// <summary>
/// <c>qst bench</c>: the paper's comparisons measured here, side by side in one invocation.
/// <list type="bullet">
/// <item><c>all</c> (or <c>methods</c>, <c>nf4</c>, <c>pipeline</c>): runs the parts, each configuration in its own
/// <c>qst</c> process, and writes <c>results.json</c>, <c>RESULTS.md</c> (the exact command first) and PNG charts to <c>--out</c>.</item>
/// <item>hidden <c>run-one</c>, <c>run-nf4</c>, <c>run-pipeline</c>: one measurement, printed as a <c>BENCH-RESULT</c> JSON line.</item>
/// </list>
/// A failed child is reported in the notes and the rest still runs.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks: memory and speed per method, analytic memory model, NF4 hot path, grain traffic, pipeline scaling.");
        foreach (var part in new[] { "all", "methods", "nf4", "pipeline" }) bench.Subcommands.Add(Part(part));
        bench.Subcommands.Add(RenderCommand());
        bench.Subcommands.Add(BenchGpu.Create());
        bench.Subcommands.Add(BenchWire.Create());
        bench.Subcommands.Add(BenchData.Create());
        bench.Subcommands.Add(Compare.CompareCommand.Create());
        bench.Subcommands.Add(RunOneCommand());
        bench.Subcommands.Add(RunNf4Command());
        bench.Subcommands.Add(BenchPipeline.RunCommand());
        bench.Subcommands.Add(BenchPipeline.SiloCommand());
        return bench;
    }

    static Command Part(string part)
    {
        var output = new Option<string>("--out") { Description = "Results directory", DefaultValueFactory = _ => Path.Combine("tests", "bench", "results") };
        var models = new Option<string>("--models") { Description = "Comma-separated: tiny, medium", DefaultValueFactory = _ => "tiny,medium" };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2 };
        var command = new Command(part, part == "all" ? "Every part, then the report" : $"Only the {part} part, then the report") { output, models, threads };
        command.SetAction(p => CliErrors.Run(() =>
        {
            var settings = new BenchSettings(part, p.GetValue(output)!, p.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(BenchModel.Parse).ToList(), p.GetValue(threads));
            string command = "qst bench " + string.Join(' ', Environment.GetCommandLineArgs().SkipWhile(a => a != "bench").Skip(1));
            Run(settings, command, Console.Out);
            return 0;
        }));
        return command;
    }

    sealed record BenchSettings(string Part, string Output, List<BenchModel> Models, int Threads);

    static void Run(BenchSettings s, string commandLine, TextWriter log)
    {
        var results = new BenchResults
        {
            Command = commandLine,
            Machine = $"{Environment.ProcessorCount} cores ({CpuName()}), {TotalMemoryGiB():F0} GiB RAM, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, TorchSharp CPU",
            Date = DateTimeOffset.UtcNow,
            Build = BuildDescription(),
        };
        string loadAtStart = LoadAverage();
        if (results.Build.Contains("NOT", StringComparison.Ordinal)) log.WriteLine($"warning: {results.Build}");
        string root = Directory.CreateTempSubdirectory("qst-bench-").FullName;
        try
        {
            var dirs = new Dictionary<string, string>();
            foreach (var m in s.Models)
            {
                string dir = Path.Combine(root, m.Name);
                log.WriteLine($"writing random {m.Name} ({MemoryModel.TotalParameters(m.Config) / 1e6:F0} M parameters) to {dir}");
                RandomModelWriter.Write(dir, m.Config, seed: 5);
                dirs[m.Name] = dir;
            }
            bool all = s.Part == "all";
            if (all || s.Part == "methods") RunMethods(s, dirs, results, log);
            if (all || s.Part == "methods") AddMemoryModel(s, results);
            if (all || s.Part == "nf4") RunNf4(s, results, log);
            if (all || s.Part == "pipeline") BenchPipeline.RunAll(results, log);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
        Write(results with { LoadAverage = $"{loadAtStart} at the start, {LoadAverage()} at the end" }, s.Output, log);
    }

    internal static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    /// <summary>Release or Debug, and whether the engine's JIT optimizations are on (the NF4 kernels need them).</summary>
    static string BuildDescription()
    {
        static bool Optimized(System.Reflection.Assembly a) =>
            a.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false) is not [System.Diagnostics.DebuggableAttribute { IsJITOptimizerDisabled: true }];
        bool engine = Optimized(typeof(MemoryModel).Assembly), cli = Optimized(typeof(BenchCommand).Assembly);
        return $"CLI {(cli ? "optimized" : "Debug")}, engine {(engine ? "JIT-optimized" : "NOT JIT-optimized: kernel timings are meaningless")}";
    }

    /// <summary>results.json, RESULTS.md and the charts.</summary>
    internal static void Write(BenchResults results, string output, TextWriter log)
    {
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "results.json"), BenchJson.Serialize(results));
        var charts = BenchCharts.Write(results, output);
        string markdown = BenchMarkdown.Render(results) + "Charts: " + string.Join(", ", charts.Select(c => $"[{c}]({c})")) + "\n";
        File.WriteAllText(Path.Combine(output, "RESULTS.md"), markdown);
        log.WriteLine(markdown);
        log.WriteLine($"wrote {Path.Combine(output, "RESULTS.md")}, results.json and {charts.Count} charts");
    }

    /// <summary><c>qst bench render</c>: rewrites RESULTS.md and the charts from results.json (no measuring).</summary>
    static Command RenderCommand()
    {
        var output = new Option<string>("--out") { Description = "Results directory holding results.json", DefaultValueFactory = _ => Path.Combine("tests", "bench", "results") };
        var command = new Command("render", "Rewrite RESULTS.md and the charts from an existing results.json") { output };
        command.SetAction(p => CliErrors.Run(() =>
        {
            string dir = p.GetValue(output)!;
            string file = Path.Combine(dir, "results.json");
            if (!File.Exists(file)) throw new FileNotFoundException($"{file}: no results to render (run `qst bench all` first)", file);
            Write(BenchJson.Deserialize<BenchResults>(File.ReadAllText(file)), dir, TextWriter.Null);
            Console.WriteLine($"rewrote {Path.Combine(dir, "RESULTS.md")} from {file}");
            return 0;
        }));
        return command;
    }

    static void RunMethods(BenchSettings s, Dictionary<string, string> dirs, BenchResults results, TextWriter log)
    {
        foreach (var m in s.Models)
            foreach (var method in BenchRunOne.Methods)
            foreach (bool checkpointing in BenchRunOne.Checkpointable.Contains(method) ? new[] { false, true } : new[] { false })
            {
                try
                {
                    string[] args = ["bench", "run-one", "--model", dirs[m.Name], "--method", method,
                        "--batch", Str(m.Batch), "--seq", Str(m.Sequence), "--warmup", Str(m.WarmupSteps), "--steps", Str(m.Steps), "--threads", Str(s.Threads)];
                    var run = BenchChild.Run<MethodRun>(checkpointing ? [.. args, "--gradient-checkpointing"] : args, log, TimeSpan.FromMinutes(10));
                    if (checkpointing) run = run with { Method = method + BenchRunOne.CheckpointedSuffix };   // its own row in the tables and charts
                    log.WriteLine($"  {m.Name} {method}: {run.TokensPerSecond:F0} tokens/s, peak {run.PeakRssTraining >> 20} MiB (floor {run.RssBeforeLoad >> 20} MiB)");
                    results.Methods.Add(run);
                }
                catch (InvalidOperationException e)
                {
                    log.WriteLine($"  {m.Name} {method} FAILED: {e.Message}");
                    results.Notes.Add($"{m.Name} {method} failed: {e.Message.Split('\n')[0]}");
                }
            }
    }

    static void AddMemoryModel(BenchSettings s, BenchResults results)
    {
        var map = new Dictionary<string, BenchMethod>
        {
            ["qst"] = BenchMethod.Qst, ["qst-cached"] = BenchMethod.QstCached, ["qlora"] = BenchMethod.QLora, ["lora"] = BenchMethod.Lora, ["full"] = BenchMethod.Full,
        };
        foreach (var run in results.Methods)
        {
            var config = s.Models.First(m => m.Name == run.Shape.Model).Config;
            // The analytic model has no recompute term: a checkpointed run is set beside the plain estimate.
            var estimate = MemoryModel.Estimate(config, map[run.Method.Replace(BenchRunOne.CheckpointedSuffix, "")], run.Shape.Batch, run.Shape.Sequence);
            results.MemoryModel.Add(new MemoryModelRow(run.Shape.Model, run.Method, run.Shape.Batch, run.Shape.Sequence, estimate, run.PeakAboveFloor, null));
        }
        // The reference recipe's micro-batch (spec §7.1): 1 sequence of up to 512 + 512 tokens.
        foreach (var preset in new[] { "llama2-7b", "llama2-13b", "llama2-70b" })
        {
            var config = ModelPresets.Get(preset);
            foreach (var (method, paper) in new[] { (BenchMethod.Full, "Full"), (BenchMethod.QLora, "QLoRA"), (BenchMethod.Lst, "LST"), (BenchMethod.Qst, "QST"), (BenchMethod.Lora, (string?)null) })
                results.MemoryModel.Add(new MemoryModelRow(preset, method.ToString(), 1, 1024, MemoryModel.Estimate(config, method, 1, 1024), null,
                    preset == "llama2-70b" && paper is not null ? PaperFigures.Of(paper) : null));
        }
    }

    static void RunNf4(BenchSettings s, BenchResults results, TextWriter log)
    {
        try
        {
            var rows = BenchChild.Run<List<Nf4Result>>(["bench", "run-nf4", "--threads", Str(s.Threads)], log, TimeSpan.FromMinutes(10));
            results.Nf4.AddRange(rows);
        }
        catch (InvalidOperationException e)
        {
            log.WriteLine($"  nf4 FAILED: {e.Message}");
            results.Notes.Add($"nf4 failed: {e.Message.Split('\n')[0]}");
        }
    }

    static Command RunOneCommand()
    {
        var model = new Option<string>("--model") { Required = true };
        var method = new Option<string>("--method") { Required = true, Description = string.Join(", ", BenchRunOne.Methods) };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 4 };
        var seq = new Option<int>("--seq") { DefaultValueFactory = _ => 128 };
        var warmup = new Option<int>("--warmup") { DefaultValueFactory = _ => 1 };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2 };
        var dtype = new Option<string>("--dtype") { DefaultValueFactory = _ => "bf16" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "lora, qlora, full: recompute each decoder layer in backward" };
        var keep = new Option<bool>("--keep-dequantized") { Description = "qlora: keep the dequantized weights for backward (the old path) instead of decoding again" };
        var sideHeads = new Option<int>("--side-heads") { Description = "qst: side attention heads (0 = the backbone's)" };
        var bf16Scores = new Option<bool>("--side-scores-bf16") { Description = "qst: side attention scores stay bf16 through mask and softmax (true/false; absent = qst.side_scores_bf16's default)" };
        var attention = new Option<string>("--attention") { Description = "recompute (the engine's kernel), fused (libtorch's SDPA) or eager (scores saved: the old path)", DefaultValueFactory = _ => "recompute" };
        attention.AcceptOnlyFromAmong(AttentionKernels.Names);
        var tuning = new Option<bool>("--allocator-tuning")
        {
            Description = "Keep freed step buffers in glibc's heap (runtime.allocator_tuning; true/false, to compare both in one session)",
            DefaultValueFactory = _ => TrainingConfig.Defaults.Runtime.AllocatorTuning,
        };
        var command = new Command("run-one", "One method's memory and speed in this process (used by `qst bench`)")
            { model, method, batch, seq, warmup, steps, threads, dtype, device, checkpointing, keep, sideHeads, bf16Scores, attention, tuning };
        command.Hidden = true;
        command.SetAction(p => CliErrors.Run(() =>
        {
            BenchChild.Emit(BenchRunOne.Run(new RunOneSettings(p.GetValue(model)!, p.GetValue(method)!, p.GetValue(batch), p.GetValue(seq),
                p.GetValue(warmup), p.GetValue(steps), p.GetValue(threads), p.GetValue(dtype)!, Device: p.GetValue(device)!,
                GradientCheckpointing: p.GetValue(checkpointing), KeepDequantized: p.GetValue(keep), SideHeads: p.GetValue(sideHeads),
                SideScoresBf16: p.GetResult(bf16Scores) is null ? null : p.GetValue(bf16Scores), Attention: p.GetValue(attention)!,
                AllocatorTuning: p.GetValue(tuning))));
            return 0;
        }));
        return command;
    }

    static Command RunNf4Command()
    {
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2 };
        var rows = new Option<int>("--rows") { Description = "M = B·T rows of x", DefaultValueFactory = _ => 512 };
        var command = new Command("run-nf4", "NF4 dequantize/linear vs memory copy and bf16 linear (used by `qst bench`)") { threads, rows };
        command.Hidden = true;
        command.SetAction(p => CliErrors.Run(() =>
        {
            // Llama-2-7B's q/k/v/o and gate/up weights, and the medium bench model's MLP weight.
            BenchChild.Emit(BenchNf4.Run([(4096, 4096), (11008, 4096), (2816, 1024)], p.GetValue(rows), p.GetValue(threads)));
            return 0;
        }));
        return command;
    }

    static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);

    static string CpuName() =>
        File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?" : "?";

    static double TotalMemoryGiB() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (double)(1L << 30);
}
