namespace QstOrleans.Cli.Bench.Reports;

/// <summary>The shape a figure was measured on: model, batch, sequence length, threads and dtype.</summary>
public sealed record BenchShape(string Model, int Hidden, int Intermediate, int Layers, int Heads, int Vocab,
    long Parameters, int Batch, int Sequence, int Threads, string Dtype)
{
    public string Describe() =>
        $"{Model}: H={Hidden}, I={Intermediate}, layers={Layers}, heads={Heads}, vocab={Vocab}, {Parameters / 1e6:F1} M params; " +
        $"batch {Batch} × {(Sequence > 0 ? $"seq {Sequence}" : "seq padded per micro-batch")}, {Threads} thread{(Threads == 1 ? " per worker" : "s")}, {Dtype}";
}

/// <summary>
/// One training configuration measured in its own process (<c>qst bench run-one</c>). Memory figures are bytes.
/// RSS figures come from /proc/self/status; the peak during training is VmHWM after resetting it at the end of
/// loading (<c>echo 5 &gt; /proc/self/clear_refs</c>), so the loader's transient peak does not hide it.
/// </summary>
public sealed record MethodRun
{
    public required string Method { get; init; }
    /// <summary>The attention kernel every layer ran (<c>Attention/AttentionKernels</c>: recompute, fused, eager); "eager" in
    /// records written before the field existed (session 9), which all ran the eager path.</summary>
    public string Attention { get; init; } = "eager";
    /// <summary>lora/qlora/full: each decoder layer recomputed in backward (<c>method.gradient_checkpointing</c>).</summary>
    public bool GradientCheckpointing { get; init; }
    /// <summary>qlora: the dequantized weights kept from forward to backward (the old path) instead of decoded again.</summary>
    public bool KeepDequantizedForBackward { get; init; }
    public required BenchShape Shape { get; init; }
    public long TrainableParameters { get; init; }
    public int Steps { get; init; }
    public double TokensPerSecond { get; init; }
    public double SecondsPerStep { get; init; }
    public float FirstLoss { get; init; }
    public float LastLoss { get; init; }
    /// <summary>RSS with libtorch loaded and initialised, before the model (the runtime's floor).</summary>
    public long RssBeforeLoad { get; init; }
    public long RssAfterLoad { get; init; }
    /// <summary>VmHWM over the whole process (loading included).</summary>
    public long PeakRssProcess { get; init; }
    /// <summary>VmHWM since the end of loading: the training steps' peak.</summary>
    public long PeakRssTraining { get; init; }
    /// <summary>Sum of the byte sizes of every parameter, buffer and NF4 tensor held (frozen and trainable).</summary>
    public long WeightBytes { get; init; }
    public long GradientBytes { get; init; }
    /// <summary>AdamW's two fp32 moments: 8 B per trainable parameter.</summary>
    public long OptimizerBytes { get; init; }
    /// <summary>Where it trained: cpu or cuda:N.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>CUDA runs: device memory in use (NVML) before this process touched the GPU, after loading, and at the peak
    /// of the whole run (CUDA context + PyTorch's reserved pool).</summary>
    public long? GpuBaselineBytes { get; init; }
    public long? GpuAfterLoadBytes { get; init; }
    public long? GpuPeakBytes { get; init; }
    /// <summary>Each measured step's tokens/s (after the warm-up), in order: <c>qst bench compare</c> takes medians over them.</summary>
    public IReadOnlyList<double> StepTokensPerSecond { get; init; } = [];
    /// <summary>Minor page faults (<c>/proc/self/stat</c> minflt) per measured step, the whole process: pages first touched,
    /// e.g. step buffers glibc mmapped afresh. Null off Linux and in results written before it was measured.</summary>
    public double? MinorFaultsPerStep { get; init; }
    /// <summary>Where a measured step's time went (<see cref="QstOrleans.Model.Metrics.StepPhases"/>: QST's frozen backbone,
    /// the forward with loss, backward, optimizer), each phase's median over the measured steps. Null in results written
    /// before session 10.</summary>
    public QstOrleans.Model.Metrics.StepPhases? Phases { get; init; }
    /// <summary>What <c>runtime.allocator_tuning</c> did in the run's process (<c>NativeAllocatorTuning</c>): the mallopt options
    /// glibc accepted, "allocator tuning off", or why it was skipped. Empty in results written before it existed.</summary>
    public string AllocatorTuning { get; init; } = "";
    /// <summary>The run's GPU footprint: peak above the baseline.</summary>
    public long? GpuPeakAboveBaseline => GpuPeakBytes - GpuBaselineBytes;

    /// <summary>Training peak above the loaded model, less the optimizer state and gradients created in the first step.</summary>
    public long ActivationBytes => Math.Max(0, PeakRssTraining - RssAfterLoad - OptimizerBytes - GradientBytes);

    /// <summary>The training peak above the runtime floor: what the method itself costs.</summary>
    public long PeakAboveFloor => PeakRssTraining - RssBeforeLoad;
}

/// <summary>The analytic model beside measurements (where they exist) and the paper (70B).</summary>
public sealed record MemoryModelRow(string Model, string Method, int Batch, int Sequence, MemoryBreakdown Estimate,
    double? MeasuredAboveFloor, PaperFigures.Bar? Paper);

/// <summary>NF4 kernels against the memory bandwidth and against a bf16 linear of the same shape.</summary>
public sealed record Nf4Result
{
    public required string Shape { get; init; }           // "[out, in]", x [M, in]
    public int Threads { get; init; }
    public double CopyGBps { get; init; }                  // read + write bytes per second of a plain copy
    public double DequantMs { get; init; }                 // fastest decode path (DecodePath)
    public string DecodePath { get; init; } = "";
    /// <summary>Dequantize ms per decode path (Scalar, Ssse3, Avx2, Avx512) this CPU supports, timed in the same rounds.</summary>
    public Dictionary<string, double> DequantMsByPath { get; init; } = [];
    public double DequantBytes { get; init; }              // packed + absmax read, bf16 written
    public double DequantBoundMs => DequantBytes / (CopyGBps * 1e9) * 1e3;
    public double Bf16LinearMs { get; init; }
    public double Nf4LinearMs { get; init; }               // dequantize per call + matmul
    public double Nf4CachedLinearMs { get; init; }         // CacheDequantized
    public long CacheBytes { get; init; }                  // what caching costs: 2 B/param
}

/// <summary>One pipeline run (S stages on S one-slot silos) and its traffic.</summary>
public sealed record PipelineRun
{
    public required int Stages { get; init; }
    /// <summary>"one process" (one silo, S slots, threads unpinned) or "pinned" (one silo process per stage, pinned to CPU s mod cores).</summary>
    public string Mode { get; init; } = "one process";
    /// <summary>CPUs of the machine (the bound of the core-aware ideal).</summary>
    public int Cores { get; init; } = 1;
    public required BenchShape Shape { get; init; }
    public int MicroBatches { get; init; }
    public double WallSeconds { get; init; }
    public double TokensPerSecond { get; init; }
    /// <summary>Compute seconds per micro-batch: the stages in order, then the side trainer.</summary>
    public IReadOnlyList<double> ComputePerMicroBatch { get; init; } = [];
    public IReadOnlyList<string> Workers { get; init; } = [];
    /// <summary>Σ over stages of <c>StageStatus.BytesSent</c> (taps to the side trainer + hidden states to the next stage).</summary>
    public long BytesSent { get; init; }
    public long TokenPositions { get; init; }              // Σ B·T over the micro-batches
    /// <summary>
    /// CPU seconds (user + system, all threads) each silo process used during the job: the primary first.
    /// WHY beside the per-worker compute times: those are wall-clock spans, which grow when two workers
    /// time-share a core, so only CPU time shows how busy each core really was.
    /// </summary>
    public IReadOnlyList<double> ProcessCpuSeconds { get; init; } = [];
    public double Efficiency => PipelineEfficiency.Efficiency(ComputePerMicroBatch, MicroBatches, WallSeconds);
    public double IdealSpeedup => PipelineEfficiency.IdealSpeedup(ComputePerMicroBatch);
    public double EfficiencyOnCores => PipelineEfficiency.EfficiencyOnCores(ComputePerMicroBatch, MicroBatches, WallSeconds, Math.Max(1, Cores));
}

/// <summary>Everything one <c>qst bench all</c> writes (JSON + Markdown).</summary>
public sealed record BenchResults
{
    public required string Command { get; init; }
    public required string Machine { get; init; }
    public DateTimeOffset Date { get; init; }
    /// <summary>/proc/loadavg (1, 5, 15 min) at the start and the end: how shared the machine was.</summary>
    public string LoadAverage { get; init; } = "";
    /// <summary>Whether the JIT optimized the engine (a Debug build of the kernels is several times slower).</summary>
    public string Build { get; init; } = "";
    public List<MethodRun> Methods { get; init; } = [];
    public List<MemoryModelRow> MemoryModel { get; init; } = [];
    public List<Nf4Result> Nf4 { get; init; } = [];
    public List<PipelineRun> Pipeline { get; init; } = [];
    public List<string> Notes { get; init; } = [];
    /// <summary><c>qst bench compare</c>: interleaved runs per configuration (medians with min–max), per shape.</summary>
    public List<ComparedRun> Comparisons { get; init; } = [];
}
