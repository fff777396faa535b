using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;

namespace QstOrleans.Cli.Bench;

/// <summary>
/// <c>qst bench gpu</c>: the paper's comparison on a CUDA device. Writes a random Llama of the chosen shape (or uses
/// <c>--model</c>), trains each method for a few steps in its own <c>qst bench run-one --device cuda</c> process
/// (so each one's GPU footprint is its own), and writes <c>results.json</c> and <c>RESULTS.md</c> to <c>--out</c>.
/// Needs TorchSharp's CUDA libraries (README, "Running on CUDA"); on a CPU-only build it fails at once, naming --device.
/// </summary>
internal static class BenchGpu
{
    /// <summary>
    /// A 1.1 B-parameter Llama (the TinyLlama-1.1B shape: H 2048, I 5632, 22 layers, 32 heads, 4 KV heads, vocab 32000):
    /// GQA like Llama-2-70B and Llama-3, and small enough that full fine-tuning (fp32 weights + gradients + AdamW ≈ 18 GB) fits an 80 GB card.
    /// </summary>
    public static ModelConfig Llama1B => new()
    {
        Name = "llama-1.1b", VocabSize = 32000, HiddenSize = 2048, IntermediateSize = 5632, NumLayers = 22,
        NumHeads = 32, NumKeyValueHeads = 4, HeadDim = 64, NormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 2048,
    };

    /// <summary>
    /// A 2.7 B-parameter Llama (the Sheared-LLaMA-2.7B shape: H 2560, I 6912, 32 layers, 20 heads, vocab 32000). QST's
    /// default r = 16 needs H/16 divisible by the head count: 160 / 20 = 8 (OpenLLaMA-3B's H 3200 with 32 heads is not).
    /// </summary>
    public static ModelConfig Llama3B => new()
    {
        Name = "llama-2.7b", VocabSize = 32000, HiddenSize = 2560, IntermediateSize = 6912, NumLayers = 32,
        NumHeads = 20, NumKeyValueHeads = 20, HeadDim = 128, NormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 4096,
    };

    static ModelConfig Shape(string name) => name switch
    {
        "llama-1b" or "llama-1.1b" => Llama1B,
        "llama-3b" or "llama-2.7b" => Llama3B,
        "medium" or "llama-134m" => BenchModel.Medium.Config,
        "tiny" => BenchModel.Tiny.Config,
        _ => throw new ArgumentException($"--shape: unknown '{name}' (llama-1b, llama-3b, medium, tiny)"),
    };

    public static Command Create()
    {
        var shape = new Option<string>("--shape") { Description = "llama-1b, llama-3b, medium or tiny (random weights)", DefaultValueFactory = _ => "llama-1b" };
        var model = new Option<string?>("--model") { Description = "Use this HF model directory instead of a random one" };
        var methods = new Option<string>("--methods") { Description = "Comma-separated methods", DefaultValueFactory = _ => "qst,qlora,lora,full" };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 4 };
        var seq = new Option<int>("--seq") { DefaultValueFactory = _ => 512 };
        var warmup = new Option<int>("--warmup") { DefaultValueFactory = _ => 2 };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 5 };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "cuda" };
        var output = new Option<string>("--out") { Description = "Results directory", DefaultValueFactory = _ => Path.Combine("tests", "bench", "results", "gpu") };
        var command = new Command("gpu", "QST vs QLoRA vs LoRA vs full fine-tuning on a CUDA device: GPU memory and tokens/s per method")
            { shape, model, methods, batch, seq, warmup, steps, device, output };
        command.SetAction(p => CliErrors.Run(() =>
        {
            string commandLine = "qst bench " + string.Join(' ', Environment.GetCommandLineArgs().SkipWhile(a => a != "bench").Skip(1));
            Run(Shape(p.GetValue(shape)!), p.GetValue(model), p.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                p.GetValue(batch), p.GetValue(seq), p.GetValue(warmup), p.GetValue(steps), p.GetValue(device)!, p.GetValue(output)!, commandLine, Console.Out);
            return 0;
        }));
        return command;
    }

    static void Run(ModelConfig shape, string? modelDirectory, string[] methods, int batch, int seq, int warmup, int steps, string device,
        string output, string commandLine, TextWriter log)
    {
        foreach (var m in methods)
            if (!BenchRunOne.Methods.Contains(m)) throw new ArgumentException($"--methods: unknown '{m}' ({string.Join(", ", BenchRunOne.Methods)})");
        string? temp = null;
        if (modelDirectory is null)
        {
            temp = Directory.CreateTempSubdirectory("qst-bench-gpu-").FullName;
            modelDirectory = Path.Combine(temp, shape.Name);
            log.WriteLine($"writing random {shape.Name} ({MemoryModel.TotalParameters(shape) / 1e9:F2} B parameters) to {modelDirectory}");
            RandomModelWriter.Write(modelDirectory, shape, seed: 5);
        }
        var runs = new List<MethodRun>();
        var notes = new List<string>();
        try
        {
            foreach (var method in methods)
            {
                try
                {
                    var run = BenchChild.Run<MethodRun>(["bench", "run-one", "--model", modelDirectory, "--method", method, "--batch", Str(batch),
                        "--seq", Str(seq), "--warmup", Str(warmup), "--steps", Str(steps), "--device", device, "--threads", Str(Math.Min(8, Environment.ProcessorCount))],
                        log, TimeSpan.FromMinutes(15));
                    log.WriteLine($"  {method}: {run.TokensPerSecond:F0} tokens/s, GPU peak {(run.GpuPeakAboveBaseline ?? 0) >> 20} MiB");
                    runs.Add(run);
                }
                catch (InvalidOperationException e)
                {
                    log.WriteLine($"  {method} FAILED: {e.Message}");
                    notes.Add($"{method} failed: {e.Message.Split('\n')[0]}");
                }
            }
        }
        finally
        {
            if (temp is not null) try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
        Directory.CreateDirectory(output);
        string machine = $"{GpuName()}; host {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
        var results = new { Command = commandLine, Machine = machine, Date = DateTimeOffset.UtcNow, Runs = runs, Notes = notes };
        File.WriteAllText(Path.Combine(output, "results.json"), System.Text.Json.JsonSerializer.Serialize(results, BenchJson.Options));
        string markdown = GpuBenchReport.Render(commandLine, machine, runs, notes);
        File.WriteAllText(Path.Combine(output, "RESULTS.md"), markdown);
        log.WriteLine(markdown);
    }

    static string GpuName()
    {
        try
        {
            var start = new System.Diagnostics.ProcessStartInfo("nvidia-smi", "--query-gpu=name,memory.total,driver_version --format=csv,noheader")
                { RedirectStandardOutput = true, UseShellExecute = false };
            using var process = System.Diagnostics.Process.Start(start)!;
            string text = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return text.Length > 0 ? text : "unknown GPU";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown GPU (no nvidia-smi)";
        }
    }

    static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);
}
