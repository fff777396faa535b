using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Grains.Hosting;
using QstOrleans.Model.Benchmarks;
using QstOrleans.Model.Config;
using static TorchSharp.torch;

namespace QstOrleans.Cli.Commands;

/// <summary>
/// Pipeline scaling and grain traffic: the same QST job over 1, 2 and 4 backbone stages, each run in its own
/// process holding an in-process cluster of S silos with one device slot each (localhost clustering). Every
/// worker (stage or side trainer) computes on its own thread with one intra-op libtorch thread
/// (OMP_NUM_THREADS=1), so S stages + the side trainer are S + 1 threads sharing this machine's cores.
/// Stage counters (compute seconds, bytes sent) come from <see cref="IBackboneStageGrain.GetStatus"/>.
/// </summary>
internal static class BenchPipeline
{
    public static readonly int[] StageCounts = [1, 2, 4];
    const int MicroBatch = 4, Steps = 24, Window = 8, Seed = 3;

    public static void RunAll(BenchModel model, string modelDirectory, int threads, BenchResults results, TextWriter log)
    {
        // The job reads Alpaca data through the model's tokenizer: use the tiny preset made by make-model (it has one).
        string root = Directory.CreateTempSubdirectory("qst-bench-pipeline-").FullName;
        try
        {
            string dir = Path.Combine(root, "tiny"), data = Path.Combine(root, "data.jsonl");
            MakeModelCommand.Run("tiny", dir, seed: 5);
            SyntheticDatasets.WriteAlpacaJsonl(data, 256, seed: 5);
            foreach (int stages in StageCounts)
            {
                try
                {
                    var run = BenchChild.Run<PipelineRun>(["bench", "run-pipeline", "--model", dir, "--data", data, "--stages", stages.ToString(CultureInfo.InvariantCulture)],
                        log, TimeSpan.FromMinutes(10), new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1", ["MKL_NUM_THREADS"] = "1" });
                    log.WriteLine($"  {stages} stage(s): {run.TokensPerSecond:F0} tokens/s, efficiency {run.Efficiency:F2}");
                    results.Pipeline.Add(run);
                }
                catch (InvalidOperationException e)
                {
                    log.WriteLine($"  pipeline {stages} FAILED: {e.Message}");
                    results.Notes.Add($"pipeline with {stages} stages failed: {e.Message.Split('\n')[0]}");
                }
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    public static Command RunCommand()
    {
        var model = new Option<string>("--model") { Required = true };
        var data = new Option<string>("--data") { Required = true };
        var stages = new Option<int>("--stages") { DefaultValueFactory = _ => 1 };
        var command = new Command("run-pipeline", "One pipeline run on an in-process cluster (used by `qst bench`)") { model, data, stages };
        command.Hidden = true;
        command.SetAction(p => CliErrors.Run(() =>
        {
            BenchChild.Emit(Run(p.GetValue(model)!, p.GetValue(data)!, p.GetValue(stages)).GetAwaiter().GetResult());
            return 0;
        }));
        return command;
    }

    static async Task<PipelineRun> Run(string modelDirectory, string dataFile, int stageCount)
    {
        set_num_threads(1);
        int basePort = 21000 + Random.Shared.Next(0, 4000) * 4;
        var primary = new IPEndPoint(IPAddress.Loopback, basePort);
        var hosts = new List<IHost>();
        try
        {
            for (int i = 0; i < stageCount; i++)
            {
                int index = i;
                var host = Host.CreateDefaultBuilder()
                    .ConfigureLogging(l => l.ClearProviders().SetMinimumLevel(LogLevel.Warning))
                    .UseOrleans(silo =>
                    {
                        silo.UseLocalhostClustering(basePort + 2 * index, basePort + 2 * index + 1, primary);
                        silo.AddQst(new QstSiloOptions { SiloName = $"bench-{index}", Slots = [new SlotOptions { Device = "cpu:0", MemoryGiB = 4 }] })
                            .AddQstInMemoryState();
                    })
                    .Build();
                await host.StartAsync();
                hosts.Add(host);
            }
            var grains = hosts[0].Services.GetRequiredService<IGrainFactory>();
            await WaitForSlots(grains, stageCount);

            var spec = new JobSpec
            {
                ModelDirectory = modelDirectory, DataFile = dataFile, MaxSteps = Steps, MicroBatchSize = MicroBatch, LearningRate = 1e-3,
                Seed = Seed, Stages = stageCount, Window = Window, BackboneFormat = "nf4",
                CheckpointEverySteps = 0, CheckpointEveryMinutes = 0,   // throughput only: nothing to resume
            };
            var job = grains.GetGrain<ITrainingJobGrain>($"bench-{stageCount}");
            var started = await job.Start(spec);
            if (started.State != JobState.Running) throw new InvalidOperationException($"job did not start: {started.Message}");
            var clock = Stopwatch.StartNew();
            JobProgress progress;
            do
            {
                await Task.Delay(50);
                progress = await job.GetProgress();
            } while (!progress.IsFinished && clock.Elapsed < TimeSpan.FromMinutes(8));
            double wall = clock.Elapsed.TotalSeconds;
            if (progress.State != JobState.Completed) throw new InvalidOperationException($"job ended {progress.State}: {progress.Message}");

            var keys = progress.Placement.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
            var statuses = (await Task.WhenAll(keys.Select(k => grains.GetGrain<IBackboneStageGrain>(k).GetStatus()))).ToList();
            var side = await grains.GetGrain<ISideTrainerGrain>(job.GetPrimaryKeyString()).GetStatus();
            long microBatches = statuses.Min(s => s.Processed);
            var config = ModelConfig.Load(modelDirectory);
            return new PipelineRun
            {
                Stages = stageCount,
                Shape = new BenchShape(config.Name, config.HiddenSize, config.IntermediateSize, config.NumLayers, config.NumHeads, config.VocabSize,
                    MemoryModel.TotalParameters(config), MicroBatch, 0, 1, "bf16"),
                MicroBatches = (int)microBatches,
                WallSeconds = wall,
                TokensPerSecond = progress.TokensPerSecond,
                Workers = [.. statuses.Select(s => $"stage {s.Key.Split('/')[0]} on {s.Silo}"), $"side on {side.Silo}"],
                ComputePerMicroBatch = [.. statuses.Select(s => s.ComputeSeconds / Math.Max(1, s.Processed)), side.ComputeSeconds / Math.Max(1, side.Applied)],
                BytesSent = statuses.Sum(s => s.BytesSent),
                TokenPositions = TokenPositions(modelDirectory, dataFile, (int)microBatches),
            };
        }
        finally
        {
            foreach (var host in Enumerable.Reverse(hosts))
            {
                try { await host.StopAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { /* tearing down a bench cluster */ }
                host.Dispose();
            }
        }
    }

    /// <summary>Waits until every silo has published its slot (membership and metadata spread in the background).</summary>
    static async Task WaitForSlots(IGrainFactory grains, int count)
    {
        var clock = Stopwatch.StartNew();
        while ((await grains.GetGrain<IClusterSlotsGrain>(0).List()).Count < count)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new InvalidOperationException($"only some of {count} silos joined within 60 s");
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
}
