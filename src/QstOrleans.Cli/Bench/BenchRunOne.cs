using QstOrleans.Model.Attention;
using QstOrleans.Model.Metrics;
using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Configuration;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Config;
using QstOrleans.Model.Devices;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Quantization;
using QstOrleans.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Cli.Bench;

/// <summary>What one <c>qst bench run-one</c> process measures.</summary>
public sealed record RunOneSettings(string ModelDirectory, string Method, int Batch, int Sequence, int WarmupSteps, int Steps,
    int Threads, string Dtype = "bf16", long Seed = 0, string Device = "cpu", bool GradientCheckpointing = false, bool KeepDequantized = false,
    int SideHeads = 0, bool? SideScoresBf16 = null, bool AllocatorTuning = true,
    string Attention = "recompute");

/// <summary>
/// One method trained for a few steps in this process on seeded random tokens (every position a label),
/// measuring RSS before/after loading and VmHWM during the steps (reset after loading), tokens/s over the
/// steps after the warm-up, minor page faults per measured step, and the bytes of the tensors held. Must run alone in its
/// process: VmHWM, page faults and the allocator tuning (<c>runtime.allocator_tuning</c>) are per process.
/// </summary>
internal static class BenchRunOne
{
    public static readonly string[] Methods = ["qst", "qst-cached", "qlora", "lora", "full"];

    /// <summary>The methods <c>qst bench all</c> also runs with <c>--gradient-checkpointing</c> (reported as e.g. <c>qlora+gc</c>).</summary>
    public static readonly string[] Checkpointable = ["qlora", "lora", "full"];
    public const string CheckpointedSuffix = "+gc";

    public static MethodRun Run(RunOneSettings s)
    {
        // First, as train-local does: it changes where every later native block comes from.
        var tuning = NativeAllocatorTuning.ApplyOnce(s.AllocatorTuning);
        set_num_threads(s.Threads);
        // NVML's baseline is read before this process creates its CUDA context (Parse probes CUDA, it allocates nothing).
        var device = ComputeDevice.Parse(s.Device);
        using var gpu = device.type == DeviceType.CUDA ? new GpuMemorySampler(Math.Max(device.index, 0)) : null;
        using (var warm = ones(16)) using (var sum = warm.sum()) sum.item<float>();   // libtorch initialised before the floor
        GC.Collect();
        long floor = ProcessMemory.ResidentBytes();

        var config = ModelConfig.Load(s.ModelDirectory);
        var (method, cache) = s.Method switch
        {
            "qst" => (TrainingMethod.Qst, false),
            "qst-cached" => (TrainingMethod.Qst, true),
            "qlora" => (TrainingMethod.QLora, false),
            "lora" => (TrainingMethod.Lora, false),
            "full" => (TrainingMethod.Full, false),
            _ => throw new ArgumentException($"--method: unknown '{s.Method}' ({string.Join(", ", Methods)})"),
        };
        // The run's settings as a TrainingConfig, like every other run: defaults except what the benchmark fixes.
        var d = TrainingConfig.Defaults;
        var training = d with
        {
            Schedule = new ScheduleSection { Epochs = 1, MaxSteps = s.WarmupSteps + s.Steps, MicroBatchSize = s.Batch, GradientAccumulation = 1, Seed = s.Seed },
            Optimizer = d.Optimizer with { MaxGradNorm = 1.0 },
            Precision = d.Precision with { Dtype = s.Dtype },
            Runtime = new RuntimeSection { Threads = s.Threads, Device = s.Device, AllocatorTuning = s.AllocatorTuning },
            // Unset = the config's default (qst.side_scores_bf16), so a benchmark measures what a training run would run.
            Qst = d.Qst with { SideHeads = s.SideHeads, SideScoresBf16 = s.SideScoresBf16 ?? d.Qst.SideScoresBf16 },
        };
        var build = ModelBuildOptions.From(training, device) with
        {
            Method = method, CacheDequantized = cache, GradientCheckpointing = s.GradientCheckpointing, KeepDequantizedForBackward = s.KeepDequantized,
        };
        // recompute is the engine's kernel; fused and eager (scores saved, as before session 9) are there to measure against.
        build = build with { Precision = build.Precision with { Attention = AttentionKernels.Parse(s.Attention) } };
        using var model = ModelBuilder.Build(s.ModelDirectory, config, build);
        var batches = RandomBatches(config.VocabSize, s.Batch, s.Sequence, s.WarmupSteps + s.Steps, s.Seed);
        if (cache)
        {
            // Fill the dequantized-weight caches now, so they count as weights rather than as step memory.
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var (ids, _, mask) = batches[0].ToTensors(device);
            model.Logits(ids, mask);
        }
        GC.Collect();
        long afterLoad = ProcessMemory.ResidentBytes();
        ComputeDevice.Synchronize(device);
        long? gpuAfterLoad = gpu?.UsedBytes;
        long weights = WeightBytes(model);
        long trainable = model.TrainableParameters.Sum(p => p.numel());
        long trainableBytes = model.TrainableParameters.Sum(p => p.numel() * p.ElementSize);
        ResetPeak();

        var trainer = new LocalTrainer(model, OptimizerConfig.From(training.Optimizer), TrainerConfig.From(training));
        // Faults over the timed steps only: read when the last warm-up step has reported (Train yields step by step).
        long? faultsBefore = s.WarmupSteps == 0 ? PageFaults.MinorFaults() : null;
        var reports = new List<StepReport>();
        foreach (var report in trainer.Train(_ => batches, s.WarmupSteps + s.Steps))
        {
            reports.Add(report);
            if (reports.Count == s.WarmupSteps) faultsBefore = PageFaults.MinorFaults();
        }
        long? faultsAfter = PageFaults.MinorFaults();
        var measured = reports.Skip(s.WarmupSteps).ToList();
        double tokensPerStep = (double)s.Batch * s.Sequence;
        double seconds = measured.Sum(r => tokensPerStep / r.TokensPerSecond);
        long peakTraining = ProcessMemory.PeakResidentBytes();
        ComputeDevice.Synchronize(device);
        long? gpuPeak = gpu is null ? null : Math.Max(gpu.PeakBytes, gpu.UsedBytes);
        return new MethodRun
        {
            Method = s.Method,
            Attention = AttentionKernels.Name(build.Precision.Attention),
            GradientCheckpointing = s.GradientCheckpointing && method != TrainingMethod.Qst,
            KeepDequantizedForBackward = s.KeepDequantized && method == TrainingMethod.QLora,
            Shape = new BenchShape(config.Name, config.HiddenSize, config.IntermediateSize, config.NumLayers, config.NumHeads, config.VocabSize,
                MemoryModel.TotalParameters(config), s.Batch, s.Sequence, s.Threads, s.Dtype),
            TrainableParameters = trainable,
            Steps = measured.Count,
            TokensPerSecond = measured.Count * tokensPerStep / seconds,
            SecondsPerStep = seconds / measured.Count,
            StepTokensPerSecond = measured.Select(r => r.TokensPerSecond).ToList(),
            Phases = StepPhases.Median(measured.Select(r => r.Phases)),
            MinorFaultsPerStep = faultsAfter - faultsBefore is { } faults && measured.Count > 0 ? (double)faults / measured.Count : null,
            AllocatorTuning = tuning.Describe(),
            FirstLoss = reports[0].Loss,
            LastLoss = reports[^1].Loss,
            RssBeforeLoad = floor,
            RssAfterLoad = afterLoad,
            PeakRssProcess = PeakSinceStart ?? peakTraining,
            PeakRssTraining = peakTraining,
            WeightBytes = weights,
            GradientBytes = trainableBytes,
            OptimizerBytes = 2 * trainable * sizeof(float),
            Device = ComputeDevice.Describe(device),
            GpuBaselineBytes = gpu?.BaselineBytes,
            GpuAfterLoadBytes = gpuAfterLoad,
            GpuPeakBytes = gpuPeak,
        };
    }

    static long? PeakSinceStart;

    /// <summary>Resets VmHWM to the current RSS (Linux ≥ 4.0); remembers the process peak so far.</summary>
    static void ResetPeak()
    {
        PeakSinceStart = ProcessMemory.PeakResidentBytes();
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* the training peak then includes loading */ }
    }

    /// <summary>Bytes of every parameter and buffer of the modules, every NF4 weight (and its dequantized cache) and the LM head.</summary>
    static long WeightBytes(ITrainableModel model)
    {
        static long Bytes(IEnumerable<Tensor> tensors) => tensors.Sum(t => t.numel() * t.ElementSize);
        static long ModuleBytes(nn.Module m) =>
            Bytes(m.parameters()) + Bytes(m.buffers()) +
            // modules() yields a layer once per path to it (ModuleList and ModuleGroup both reach it): count each once.
            m.modules().OfType<Nf4Linear>().Distinct(ReferenceEqualityComparer.Instance).Cast<Nf4Linear>().Sum(q => q.Weight.ByteSize + (q.CacheDequantized ? q.Weight.ElementCount * 2 : 0));
        switch (model)
        {
            case QstModel q:
                return ModuleBytes(q.Backbone) + ModuleBytes(q.Side) + Bytes([q.LmHead.Weight]);
            case BaselineModel b:
                long backboneTrainable = Bytes(b.Backbone.parameters().Where(p => p.requires_grad));
                long outside = Bytes(b.TrainableParameters) - backboneTrainable;   // full fine-tuning's trainable head
                return ModuleBytes(b.Backbone) + outside + HeadBytes(b);
            default:
                throw new NotSupportedException(model.GetType().Name);
        }
    }

    /// <summary>The frozen LM head a LoRA/QLoRA baseline holds (bf16 [V, E]); full fine-tuning's is trainable and counted already.</summary>
    static long HeadBytes(BaselineModel b) =>
        b.Method == TrainingMethod.Full ? 0 : (long)b.Backbone.Config.VocabSize * QstConfig.OutputWidth(b.Backbone.Config) * 2;

    /// <summary>Seeded random tokens (ids ≥ 3, past the special tokens), every position a label, no padding.</summary>
    public static List<MicroBatch> RandomBatches(int vocab, int batch, int sequence, int count, long seed)
    {
        var random = new Random((int)seed);
        var list = new List<MicroBatch>();
        for (int i = 0; i < count; i++)
        {
            var ids = new long[batch * sequence];
            for (int j = 0; j < ids.Length; j++) ids[j] = random.Next(3, vocab);
            var mask = new long[ids.Length];
            Array.Fill(mask, 1L);
            list.Add(new MicroBatch(ids, (long[])ids.Clone(), mask, batch, sequence));
        }
        return list;
    }
}
