using System.Diagnostics;
using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Cli.Cluster;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Config;
using static TorchSharp.torch;

namespace QstOrleans.Cli.Bench;

/// <summary>
/// Pipeline scaling and grain traffic: the same QST job over 1, 2 and 4 backbone stages, one device slot each,
/// on the same cluster code as <c>qst train --local</c> (<see cref="LocalCluster"/>), in two layouts:
/// <list type="bullet">
/// <item><c>one process</c>: one silo with S slots; every worker (stage or side trainer) runs with one libtorch
/// thread, and the OS spreads the threads over the cores as it likes.</item>
/// <item><c>pinned</c>: one silo process per stage, stage s's process started pinned to CPU s mod cores
/// (<see cref="BenchAffinity"/>); process 0 is the primary and also hosts the job (and wherever Orleans puts it, the side trainer).</item>
/// </list>
/// Each run is its own child process. Stage counters come from <see cref="IBackboneStageGrain.GetStatus"/>.
/// </summary>
internal static class BenchPipeline
{
    public static readonly int[] StageCounts = [1, 2, 4];
    public static readonly string[] Modes = ["one process", "pinned"];
    const int MicroBatch = 4, Steps = 24, Window = 8, Seed = 3;
    static readonly Dictionary<string, string> OneThread = new() { ["OMP_NUM_THREADS"] = "1", ["MKL_NUM_THREADS"] = "1" };

    public static void RunAll(BenchResults results, TextWriter log)
    {
        // The job reads Alpaca data through the model's tokenizer: use the tiny preset made by make-model (it has one).
        string root = Directory.CreateTempSubdirectory("qst-bench-pipeline-").FullName;
        try
        {
            string tiny = Path.Combine(root, "tiny"), data = Path.Combine(root, "data.jsonl");
            MakeModelCommand.Run("tiny", tiny, seed: 5);
            SyntheticDatasets.WriteAlpacaJsonl(data, 256, seed: 5);
            string wide = WriteBackboneHeavyModel(root, tiny);
            foreach (string dir in new[] { tiny, wide })
            foreach (string mode in Modes)
                foreach (int stages in StageCounts)
                {
                    try
                    {
                        // Pinned: this child (the primary silo, stage 0, the job and usually the side trainer) runs on CPU 0.
                        var run = BenchChild.Run<PipelineRun>(["bench", "run-pipeline", "--model", dir, "--data", data, "--stages", Str(stages), "--mode", mode,
                                "--cores", Str(Environment.ProcessorCount)],
                            log, TimeSpan.FromMinutes(10), OneThread, cpu: mode == "pinned" ? 0 : null);
                        log.WriteLine($"  {stages} stage(s), {mode}: {run.TokensPerSecond:F0} tokens/s, efficiency {run.Efficiency:F2} ({run.EfficiencyOnCores:F2} on {run.Cores} cores)");
                        results.Pipeline.Add(run);
                    }
                    catch (InvalidOperationException e)
                    {
                        log.WriteLine($"  pipeline {stages}, {mode} FAILED: {e.Message}");
                        results.Notes.Add($"pipeline with {stages} stages ({mode}) failed: {e.Message.Split('\n')[0]}");
                    }
                }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// A backbone-heavy shape for the scaling runs (H 512, I 1376, 8 layers, ≈26 M parameters) with the tiny
    /// model's tokenizer and vocabulary. WHY: on the tiny model the side trainer costs as much as the whole
    /// backbone, so no number of backbone stages can go faster than the side network; here the backbone
    /// dominates (the side network is H/16 wide and the vocabulary small), so stages have work to split.
    /// </summary>
    static string WriteBackboneHeavyModel(string root, string tinyDirectory)
    {
        string dir = Path.Combine(root, "llama-26m"); // the config name is taken from the folder
        var config = new ModelConfig
        {
            Name = "llama-26m", VocabSize = ModelConfig.Load(tinyDirectory).VocabSize, HiddenSize = 512, IntermediateSize = 1376, NumLayers = 8,
            NumHeads = 8, NumKeyValueHeads = 8, HeadDim = 64, NormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 2048,
        };
        Model.Checkpoints.RandomModelWriter.Write(dir, config, seed: 5);
        foreach (var file in Directory.EnumerateFiles(tinyDirectory).Where(f => Path.GetFileName(f).StartsWith("tokenizer", StringComparison.Ordinal)))
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        return dir;
    }

    public static Command RunCommand()
    {
        var model = new Option<string>("--model") { Required = true };
        var data = new Option<string>("--data") { Required = true };
        var stages = new Option<int>("--stages") { DefaultValueFactory = _ => 1 };
        var mode = new Option<string>("--mode") { DefaultValueFactory = _ => Modes[0] };
        mode.AcceptOnlyFromAmong(Modes);
        // A pinned process sees one CPU (Environment.ProcessorCount = 1): the machine's count comes from the parent.
        var cores = new Option<int>("--cores") { DefaultValueFactory = _ => Environment.ProcessorCount };
        var command = new Command("run-pipeline", "One pipeline run (used by `qst bench`)") { model, data, stages, mode, cores };
        command.Hidden = true;
        command.SetAction(p => CliErrors.Run(() =>
        {
            BenchChild.Emit(Run(p.GetValue(model)!, p.GetValue(data)!, p.GetValue(stages), p.GetValue(mode)!, p.GetValue(cores)).GetAwaiter().GetResult());
            return 0;
        }));
        return command;
    }

    /// <summary>Hidden <c>qst bench run-silo</c>: one one-slot silo (started pinned) joining a primary; runs until its stdin closes.</summary>
    public static Command SiloCommand()
    {
        var siloPort = new Option<int>("--silo-port") { Required = true };
        var gatewayPort = new Option<int>("--gateway-port") { Required = true };
        var primary = new Option<int>("--primary-port") { Required = true };
        var clusterId = new Option<string>("--cluster") { Required = true };
        var name = new Option<string>("--name") { Required = true };
        var state = new Option<string>("--state") { Required = true };
        var command = new Command("run-silo", "One silo of a pipeline bench (used by `qst bench`)") { siloPort, gatewayPort, primary, clusterId, name, state };
        command.Hidden = true;
        command.SetAction(p => CliErrors.Run(() =>
        {
            set_num_threads(1);
            var join = new LocalSiloJoin(p.GetValue(siloPort), p.GetValue(gatewayPort), p.GetValue(primary), p.GetValue(clusterId)!, p.GetValue(name)!);
            var cluster = LocalCluster.StartAsync(1, p.GetValue(state)!, CancellationToken.None, join).GetAwaiter().GetResult();
            Console.WriteLine($"READY CPUs {string.Join(",", BenchAffinity.CurrentCpus())}");
            Console.In.ReadToEnd(); // the parent closes stdin when the run is over
            cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        }));
        return command;
    }

    static async Task<PipelineRun> Run(string modelDirectory, string dataFile, int stageCount, string mode, int cores)
    {
        bool pinned = mode == "pinned";
        var silos = new List<Process>();
        var siloCpus = new List<string> { $"stage-0 on CPUs {string.Join(",", BenchAffinity.CurrentCpus())}" };
        LocalCluster? cluster = null;
        string state = Directory.CreateTempSubdirectory("qst-bench-state-").FullName; // job state of this run only
        try
        {
            if (pinned)
            {
                string clusterId = $"qst-bench-{Environment.ProcessId}";
                int primaryPort = LocalCluster.FreePort();
                cluster = await LocalCluster.StartAsync(1, state, CancellationToken.None,
                    new LocalSiloJoin(primaryPort, LocalCluster.FreePort(), primaryPort, clusterId, "stage-0"));
                for (int s = 1; s < stageCount; s++)
                {
                    var (silo, cpus) = StartSilo(new LocalSiloJoin(LocalCluster.FreePort(), LocalCluster.FreePort(), primaryPort, clusterId, $"stage-{s}"), s % cores, state);
                    silos.Add(silo);
                    siloCpus.Add($"stage-{s} on CPUs {cpus}");
                }
            }
            else
            {
                cluster = await LocalCluster.StartAsync(stageCount, state, CancellationToken.None);
            }
            set_num_threads(1);
            var grains = cluster.Client.Grains;
            await WaitForSlots(grains, stageCount, silos);

            var spec = new JobSpec
            {
                ModelDirectory = modelDirectory, DataFile = dataFile, MaxSteps = Steps, MicroBatchSize = MicroBatch, LearningRate = 1e-3,
                Seed = Seed, Stages = stageCount, Window = Window, BackboneFormat = "nf4",
                CheckpointEverySteps = 0, CheckpointEveryMinutes = 0,   // throughput only: nothing to resume
            };
            string jobId = $"bench-{stageCount}";
            var processes = new List<Process> { Process.GetCurrentProcess() };
            processes.AddRange(silos);
            var started = (await cluster.Client.SubmitAsync(jobId, spec)).Progress;
            if (started.State != JobState.Running) throw new InvalidOperationException($"job did not start: {started.Message}");
            // Both from here: Start has loaded the stages, so the CPU time is the job's alone.
            var cpuBefore = processes.Select(CpuSeconds).ToList();
            var clock = Stopwatch.StartNew();
            JobProgress progress;
            do
            {
                await Task.Delay(50);
                progress = await cluster.Client.StatusAsync(jobId);
            } while (!progress.IsFinished && clock.Elapsed < TimeSpan.FromMinutes(8));
            double wall = clock.Elapsed.TotalSeconds;
            var cpu = processes.Select((p, i) => CpuSeconds(p) - cpuBefore[i]).ToList();
            if (progress.State != JobState.Completed) throw new InvalidOperationException($"job ended {progress.State}: {progress.Message}");

            var keys = progress.Placement.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
            var statuses = (await Task.WhenAll(keys.Select(k => grains.GetGrain<IBackboneStageGrain>(k).GetStatus()))).ToList();
            var side = await grains.GetGrain<ISideTrainerGrain>(jobId).GetStatus();
            long microBatches = statuses.Min(s => s.Processed);
            var config = ModelConfig.Load(modelDirectory);
            return new PipelineRun
            {
                Stages = stageCount,
                Mode = mode,
                Cores = cores,
                Shape = new BenchShape(config.Name, config.HiddenSize, config.IntermediateSize, config.NumLayers, config.NumHeads, config.VocabSize,
                    MemoryModel.TotalParameters(config), MicroBatch, 0, 1, "bf16"),
                MicroBatches = (int)microBatches,
                WallSeconds = wall,
                TokensPerSecond = progress.TokensPerSecond,
                Workers = [.. statuses.Select(s => $"stage {s.Key.Split('|')[1]} on {s.Silo}"), .. (pinned ? siloCpus : []), $"side on {side.Silo}"],
                ComputePerMicroBatch = [.. statuses.Select(s => s.ComputeSeconds / Math.Max(1, s.Processed)), side.ComputeSeconds / Math.Max(1, side.Applied)],
                BytesSent = statuses.Sum(s => s.BytesSent),
                ProcessCpuSeconds = cpu,
                TokenPositions = TokenPositions(modelDirectory, dataFile, (int)microBatches),
            };
        }
        finally
        {
            if (cluster is not null)
            {
                try { await cluster.DisposeAsync(); } catch (Exception) { /* tearing down a bench cluster */ }
            }
            foreach (var silo in silos) StopSilo(silo);
            try { Directory.Delete(state, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>User + system CPU seconds a process has used so far (all its threads).</summary>
    static double CpuSeconds(Process process)
    {
        process.Refresh();
        return process.TotalProcessorTime.TotalSeconds;
    }

    /// <summary>Starts a one-slot silo child pinned to <paramref name="cpu"/>; waits for its READY line (which names the CPUs it may use).</summary>
    static (Process Silo, string Cpus) StartSilo(LocalSiloJoin join, int cpu, string state)
    {
        var start = BenchChild.StartInfo(["bench", "run-silo", "--silo-port", Str(join.SiloPort), "--gateway-port", Str(join.GatewayPort),
            "--primary-port", Str(join.PrimarySiloPort), "--cluster", join.ClusterId, "--name", join.SiloName, "--state", state], OneThread);
        start.RedirectStandardInput = true;
        var process = BenchAffinity.StartPinned(start, cpu);
        process.ErrorDataReceived += (_, _) => { }; // drained so a chatty silo never blocks on a full pipe
        process.BeginErrorReadLine();
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null && !line.StartsWith("READY", StringComparison.Ordinal)) { }
        if (line is null)
        {
            process.WaitForExit(5000);
            throw new InvalidOperationException($"silo {join.SiloName} exited ({(process.HasExited ? process.ExitCode : -1)}) before it was ready");
        }
        _ = process.StandardOutput.ReadToEndAsync();
        return (process, line["READY CPUs ".Length..]);
    }

    static void StopSilo(Process silo)
    {
        try
        {
            silo.StandardInput.Close();
            if (!silo.WaitForExit(15_000)) silo.Kill(entireProcessTree: true);
        }
        catch (Exception) { /* already gone */ }
        silo.Dispose();
    }

    /// <summary>Waits until every silo has published its slot (membership and metadata spread in the background).</summary>
    static async Task WaitForSlots(IGrainFactory grains, int count, IReadOnlyList<Process> silos)
    {
        var clock = Stopwatch.StartNew();
        while ((await grains.GetGrain<IClusterSlotsGrain>(0).List()).Count < count)
        {
            if (silos.FirstOrDefault(s => s.HasExited) is { } dead) throw new InvalidOperationException($"a silo process exited with code {dead.ExitCode}");
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new InvalidOperationException($"only some of {count} slots joined within 60 s");
            await Task.Delay(200);
        }
    }

    /// <summary>Σ B·T over the job's first micro-batches, loaded exactly as the job plans them (same tokenizer, seed, size).</summary>
    static long TokenPositions(string modelDirectory, string dataFile, int microBatches)
    {
        var batches = InstructionBatches.Load(dataFile, ModelTokenizer.Load(modelDirectory), new CollatorOptions(512, 512), MicroBatch, Seed);
        long total = 0;
        for (int s = 0; s < microBatches; s++)
        {
            var b = batches.Get(s / batches.MicroBatchesPerEpoch, s % batches.MicroBatchesPerEpoch);
            total += (long)b.BatchSize * b.SequenceLength;
        }
        return total;
    }

    static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);
}
