using System.Diagnostics;
using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Configuration;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;
using QstOrleans.Data.Datasets;
using QstOrleans.Grains.Placement;

namespace QstOrleans.Cli.Bench;

/// <summary>
/// <c>qst bench wire</c> (root only): the llama-134m shape on two silo hosts in network namespaces
/// (<see cref="BenchWireCluster"/>), 2 stages, trained for a fixed number of steps with each taps mode at each per-silo
/// link rate, interleaved over <c>--repeats</c> rounds (rate changed in place, so every round sees the same cluster).
/// Per run: steady-state tokens/s (steps warmup..end, startup excluded) and the bytes that crossed between the hosts per
/// trained token, next to <see cref="WireFormula"/> for the placement the job actually got. Then one more run with a
/// silo killed (SIGKILL) mid-run: it must recover and end with the uninterrupted run's losses. Writes wire.json,
/// WIRE.md and wire-tokens-per-second.png to <c>--out</c>; adds formula-only records for the Llama-2 shapes.
/// </summary>
internal static class BenchWire
{
    const int MicroBatch = 4, Sequence = 128, Window = 4, Seed = 7;

    sealed record Settings(string Output, string[] Taps, int[] Links, int Steps, int Warmup, int Repeats, bool Kill, string Configuration,
        bool NoBuild, double MinLinkMbit);

    sealed record Sample(double TokensPerSecond, double WireBytesPerToken, WireLayout Layout, IReadOnlyList<float> Losses, int Recoveries);

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Results directory", DefaultValueFactory = _ => Path.Combine("tests", "bench", "results") };
        var taps = new Option<string>("--taps") { Description = "Comma-separated taps modes: full, lean", DefaultValueFactory = _ => "full,lean" };
        var links = new Option<string>("--links") { Description = "Comma-separated per-silo link rates in Mbit/s (0 = unlimited)", DefaultValueFactory = _ => "0,1000,100" };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps per run (4 × 128 tokens each)", DefaultValueFactory = _ => 16 };
        var warmup = new Option<int>("--warmup") { Description = "Steps left out of tokens/s (startup)", DefaultValueFactory = _ => 3 };
        var repeats = new Option<int>("--repeats") { Description = "Interleaved rounds; the table shows medians", DefaultValueFactory = _ => 2 };
        var noKill = new Option<bool>("--no-kill") { Description = "Skip the kill -9 run" };
        var configuration = new Option<string>("--configuration") { Description = "Silo build configuration", DefaultValueFactory = _ => "Release" };
        var noBuild = new Option<bool>("--no-build") { Description = "Use the existing silo build" };
        var minLink = new Option<double>("--min-link-mbit") { Description = "Qst:MinLinkMbit of the silos (probe timeouts)", DefaultValueFactory = _ => 50 };
        var render = new Option<bool>("--render") { Description = "Only rewrite WIRE.md and the chart from --out/wire.json (formula fields recomputed)" };
        var command = new Command("wire", "Bytes between hosts and tokens/s, full vs lean taps, on a rate-limited 2-host namespace cluster (needs root)")
            { output, taps, links, steps, warmup, repeats, noKill, configuration, noBuild, minLink, render };
        command.SetAction(p => CliErrors.Run(() =>
        {
            if (p.GetValue(render))
            {
                Render(p.GetValue(output)!, Console.Out);
                return 0;
            }
            if (Environment.UserName != "root" || !OperatingSystem.IsLinux())
            {
                Console.WriteLine("skipped: qst bench wire needs root on Linux (ip netns, ip link, tc); run it as root, e.g. sudo qst bench wire");
                return 0;
            }
            var s = new Settings(p.GetValue(output)!, Split(p.GetValue(taps)!, "--taps"), Split(p.GetValue(links)!, "--links").Select(ParseLink).ToArray(),
                p.GetValue(steps), p.GetValue(warmup), p.GetValue(repeats), !p.GetValue(noKill), p.GetValue(configuration)!, p.GetValue(noBuild), p.GetValue(minLink));
            if (s.Taps.Any(t => t is not ("full" or "lean"))) throw new ArgumentException($"--taps: '{string.Join(",", s.Taps)}' may name only full and lean");
            if (s.Steps < 2 || s.Warmup < 1 || s.Warmup >= s.Steps) throw new ArgumentException($"--warmup {s.Warmup} must be in 1..--steps ({s.Steps}) - 1");
            if (s.Repeats < 1) throw new ArgumentException($"--repeats: {s.Repeats} must be >= 1");
            string commandLine = "qst bench " + string.Join(' ', Environment.GetCommandLineArgs().SkipWhile(a => a != "bench").Skip(1));
            RunAsync(s, commandLine, Console.Out).GetAwaiter().GetResult();
            return 0;
        }));
        return command;
    }

    static string[] Split(string text, string option) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is { Length: > 0 } parts ? parts
            : throw new ArgumentException($"{option}: empty list");

    static int ParseLink(string text) => int.TryParse(text, out int mbit) && mbit >= 0 ? mbit
        : throw new ArgumentException($"--links: '{text}' is not a rate in Mbit/s (0 = unlimited)");

    static async Task RunAsync(Settings s, string commandLine, TextWriter log)
    {
        string repo = RepoRoot();
        string root = Directory.CreateTempSubdirectory("qst-bench-wire-").FullName;
        var results = new WireResults
        {
            Command = commandLine, Date = DateTimeOffset.UtcNow, Steps = s.Steps, WarmupSteps = s.Warmup, TokensPerStep = WireReport.TokensPerStep,
            Repeats = s.Repeats, Machine = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, TorchSharp CPU",
        };
        string loadAtStart = LoadAverage();
        var samples = new Dictionary<(string Taps, int Link), List<Sample>>();
        try
        {
            var (model, data) = WriteModelAndData(root, s.Steps, log);
            await using var cluster = await BenchWireCluster.StartAsync(repo, Path.Combine(root, "netns"), s.Configuration, s.NoBuild,
                // A long stall timeout: on a loaded box the first step of a fresh model can take over a minute, and a false
                // stall recovery would replay micro-batches (bytes counted twice). Real faults still show through the probes.
                ["--Qst:MinLinkMbit", s.MinLinkMbit.ToString(System.Globalization.CultureInfo.InvariantCulture), "--Qst:StallTimeout", "00:05:00"], log);
            for (int round = 1; round <= s.Repeats; round++)
                foreach (int link in round % 2 == 1 ? s.Links : s.Links.Reverse().ToArray())   // alternate the order: drift hits both ends
                {
                    await cluster.SetRateAsync(link);
                    foreach (string taps in s.Taps)
                    {
                        var sample = await Measure(cluster, Spec(model, data, s.Steps, taps), $"wire-{taps}-{link}-{round}", s.Warmup, log);
                        log.WriteLine($"round {round}, {taps} taps, link {link} Mbit/s: {sample.TokensPerSecond:F0} tokens/s, {sample.WireBytesPerToken:F0} B/token " +
                                      $"({WireReport.Describe(sample.Layout)})");
                        (samples.TryGetValue((taps, link), out var list) ? list : samples[(taps, link)] = []).Add(sample);
                    }
                }
            results.Records.AddRange(samples.Select(kv => Record(kv.Key.Taps, kv.Key.Link, kv.Value, (long)s.Steps * WireReport.TokensPerStep)));
            if (s.Kill && samples.FirstOrDefault().Value is [var reference, ..])
            {
                var (taps, link) = samples.First().Key;
                await cluster.SetRateAsync(link);
                results = results with { Kill = await KillRun(cluster, Spec(model, data, s.Steps, taps) with { CheckpointEverySteps = 2 }, taps, link, reference.Losses, log) };
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
        results.Records.AddRange(WireReport.FormulaOnly());
        results.Notes.Add("Formula-only records assume 4 × 128 tokens per step, bf16, the job grain on host 0 and the side trainer on the last stage's host; " +
                          "they count payloads only (no message headers or TCP/IP framing, which the measured bytes include).");
        Write(results with { LoadAverage = $"{loadAtStart} at the start, {LoadAverage()} at the end" }, s.Output, log);
    }

    static JobSpec Spec(string model, string data, int steps, string taps) => new()
    {
        ModelDirectory = model, DataFile = data,
        // Packed 128-token blocks: every micro-batch is [4, 128], so a step is exactly 512 trained tokens.
        Config = TrainingConfig.Defaults with { Data = TrainingConfig.Defaults.Data with { Pack = true, MaxLength = Sequence } },
        MaxSteps = steps, MicroBatchSize = MicroBatch, Stages = 2, Window = Window, Seed = Seed, LearningRate = 1e-3, Taps = taps,
    };

    /// <summary>
    /// One job: tokens/s between the first poll at step ≥ warmup and completion (startup excluded); host↔host bytes per
    /// token over the whole job (submit to completion): the backbone runs up to a window ahead of the optimizer, so bytes
    /// counted between two steps would miss the taps sent before the first one.
    /// </summary>
    static async Task<Sample> Measure(BenchWireCluster cluster, JobSpec spec, string jobId, int warmup, TextWriter log)
    {
        long submitBytes = cluster.HostToHostBytes();
        var started = (await cluster.Client.SubmitAsync(jobId, spec)).Progress;
        if (started.State != JobState.Running) throw new InvalidOperationException($"job {jobId} did not start: {started.State} {started.Message}");
        var clock = Stopwatch.StartNew();
        (double Seconds, int Step)? from = null;
        var deadline = TimeSpan.FromMinutes(15);
        while (true)
        {
            var p = await cluster.Client.StatusAsync(jobId);
            long bytes = cluster.HostToHostBytes();
            double now = clock.Elapsed.TotalSeconds;
            if (from is null && p.Step >= warmup) from = (now, p.Step);
            if (p.IsFinished)
            {
                if (p.State != JobState.Completed) throw new InvalidOperationException($"job {jobId} ended {p.State}: {p.Message}");
                var (t0, s0) = from ?? throw new InvalidOperationException($"job {jobId} finished before a poll saw step {warmup}");
                long tokens = (long)(p.Step - s0) * WireReport.TokensPerStep;
                if (tokens <= 0) throw new InvalidOperationException($"job {jobId}: no steps between the warm-up poll (step {s0}) and the end");
                await cluster.Client.Grains.GetGrain<ISideTrainerGrain>(jobId).Shutdown();
                return new Sample(tokens / (now - t0), (bytes - submitBytes) / ((double)p.Step * WireReport.TokensPerStep), LayoutOf(p), p.Losses,
                    p.Recoveries.Count);
            }
            if (clock.Elapsed > deadline) throw new TimeoutException($"job {jobId} still at step {p.Step} after {deadline.TotalMinutes:F0} min");
            await Task.Delay(100);
        }
    }

    /// <summary>Where the job's parts ran, as host indexes (silo h1 = 0, h2 = 1).</summary>
    static WireLayout LayoutOf(JobProgress p)
    {
        static int Host(string? silo) => silo is ['h', .. var n] && int.TryParse(n, out int i) ? i - 1
            : throw new InvalidOperationException($"silo '{silo}' is not one of the bench's hosts h1..h{BenchWireCluster.Hosts}");
        var stages = p.Placement.OrderBy(kv => StageKey.Parse(kv.Key).First).Select(kv => Host(kv.Value.Split('/')[0])).ToList();
        return new WireLayout(stages.Count, BenchWireCluster.Hosts, Host(p.SideSilo), Host(p.JobSilo), stages);
    }

    static WireRecord Record(string taps, int link, List<Sample> runs, long tokensPerRun)
    {
        // Every run of a configuration got the same placement (the planner and side placement are deterministic); if not, say so.
        var layout = runs[0].Layout;
        var record = WireReport.Formula(WireShape.Of(BenchModel.Medium.Config), layout, taps, link, tokensPerRun) with
        {
            TokensPerSecond = WireReport.Median(runs.Select(r => r.TokensPerSecond).ToList()),
            WireBytesPerToken = WireReport.Median(runs.Select(r => r.WireBytesPerToken).ToList()),
            TokensPerSecondRuns = runs.Select(r => r.TokensPerSecond).ToList(),
            RunsWithRecovery = runs.Count(r => r.Recoveries > 0),
            WireBytesPerTokenRuns = runs.Select(r => r.WireBytesPerToken).ToList(),
        };
        var others = runs.Select(r => WireReport.Describe(r.Layout)).Distinct().ToList();
        return others.Count == 1 ? record : record with { Layout = $"{record.Layout} (runs differed: {string.Join("; ", others)})" };
    }

    /// <summary>Kills the silo that does not host the job grain once the job is past a third of its steps with a checkpoint.</summary>
    static async Task<WireKillRun> KillRun(BenchWireCluster cluster, JobSpec spec, string taps, int link, IReadOnlyList<float> reference, TextWriter log)
    {
        string jobId = $"wire-kill-{Guid.NewGuid():N}"[..20];
        await cluster.Client.SubmitAsync(jobId, spec);
        JobProgress before;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            before = await cluster.Client.StatusAsync(jobId);
            if (before.Step >= spec.MaxSteps / 3 && before.LastCheckpointStep >= 2 && before.JobSilo is not null) break;
            if (before.IsFinished || clock.Elapsed > TimeSpan.FromMinutes(10))
                throw new InvalidOperationException($"kill run: job {jobId} never reached step {spec.MaxSteps / 3}: {before.State} {before.Message}");
            await Task.Delay(100);
        }
        string victim = before.JobSilo == "h1" ? "h2" : "h1";
        log.WriteLine($"kill run: step {before.Step}, job on {before.JobSilo}, side on {before.SideSilo}; kill -9 silo {victim}");
        cluster.Kill(victim);
        JobProgress done;
        while (!(done = await StatusOrNull(cluster, jobId) ?? before).IsFinished)
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(15)) throw new TimeoutException($"kill run: job {jobId} did not finish after the kill");
            await Task.Delay(200);
        }
        var first = done.Recoveries.FirstOrDefault();
        return new WireKillRun(taps, link, victim, before.Step, spec.MaxSteps, done.Step, done.Recoveries.Count, first?.ResumedFromStep ?? -1,
            done.State == JobState.Completed && done.Losses.SequenceEqual(reference), $"{done.State}; {first?.Reason.Split('\n')[0] ?? "no recovery recorded"}");
    }

    static async Task<JobProgress?> StatusOrNull(BenchWireCluster cluster, string jobId)
    {
        try { return await cluster.Client.StatusAsync(jobId); }
        catch (Exception e) when (e is not OperationCanceledException) { return null; }   // the job grain may be re-activating
    }

    /// <summary>The 134M shape (random weights) with the tiny model's tokenizer, and enough synthetic data for the packed steps.</summary>
    static (string Model, string Data) WriteModelAndData(string root, int steps, TextWriter log)
    {
        string tiny = Path.Combine(root, "tiny"), model = Path.Combine(root, "llama-134m"), data = Path.Combine(root, "data.jsonl");
        MakeModelCommand.Run("tiny", tiny, seed: 5);
        log.WriteLine($"writing random llama-134m to {model}");
        Model.Checkpoints.RandomModelWriter.Write(model, BenchModel.Medium.Config, seed: 5);
        foreach (var file in Directory.EnumerateFiles(tiny).Where(f => Path.GetFileName(f).StartsWith("tokenizer", StringComparison.Ordinal)))
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        // Synthetic records are a few dozen tokens: 8 per packed block is plenty.
        SyntheticDatasets.WriteAlpacaJsonl(data, Math.Max(256, steps * MicroBatch * 8), seed: 5);
        return (model, data);
    }

    static void Write(WireResults results, string output, TextWriter log)
    {
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "wire.json"), BenchJson.Serialize(results));
        string chart = BenchWireChart.Write(results, Path.Combine(output, "wire-tokens-per-second.png"));
        string markdown = WireReport.Markdown(results, chart);
        File.WriteAllText(Path.Combine(output, "WIRE.md"), markdown);
        log.WriteLine(markdown);
    }

    /// <summary><c>--render</c>: WIRE.md and the chart again from wire.json, measured records' formula fields recomputed from their placement.</summary>
    static void Render(string output, TextWriter log)
    {
        string file = Path.Combine(output, "wire.json");
        if (!File.Exists(file)) throw new FileNotFoundException($"{file}: no results to render (run `qst bench wire` first)", file);
        var results = BenchJson.Deserialize<WireResults>(File.ReadAllText(file));
        var shape = WireShape.Of(BenchModel.Medium.Config);
        var records = results.Records.Select(r => r.TokensPerSecond is not null && r.StageHosts.Count > 0
            ? WireReport.Recompute(r, shape, (long)results.Steps * results.TokensPerStep) : r).ToList();
        Write(results with { Records = records }, output, log);
    }

    static string RepoRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "deploy", "netns-cluster.sh"))) return dir.FullName;
        throw new DirectoryNotFoundException("deploy/netns-cluster.sh not found above the working directory: run qst bench wire from the repository");
    }

    static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";
}
