using QstOrleans.Contracts;

namespace QstOrleans.Grains.Hosting;

/// <summary>
/// What a silo contributes to the cluster: its name and device slots (config section <c>Qst</c>):
/// <code>
/// "Qst": { "SiloName": "gpu-host-1", "Slots": [ { "Device": "cuda:0", "MemoryGiB": 80 }, { "Device": "cuda:1", "MemoryGiB": 80 } ] }
/// </code>
/// On CPU hosts use <c>cpu:0</c>, <c>cpu:1</c>, … (each stage still gets its own worker thread).
/// </summary>
public sealed class QstSiloOptions
{
    public string SiloName { get; set; } = Environment.MachineName;
    public List<SlotOptions> Slots { get; set; } = [new()];
    /// <summary>Largest tensor chunk sent in one grain message (taps of big models are split).</summary>
    public int MaxChunkBytes { get; set; } = 16 << 20;
    /// <summary>Orleans message body limit, set identically on silos and clients (see <see cref="Messaging"/>).</summary>
    public int MaxMessageBodyBytes { get; set; } = Messaging.DefaultMaxMessageBodyBytes;
    /// <summary>Micro-batches a stage accepts ahead of the one it is computing (its bounded queue).</summary>
    public int StageQueueCapacity { get; set; } = 2;
    /// <summary>Micro-batches whose sends a stage keeps in flight while it computes the next one: a step costs about
    /// max(compute, wire) instead of their sum; this many micro-batches' outputs are held in memory meanwhile.</summary>
    public int StageSendsInFlight { get; set; } = 2;
    /// <summary>Where client-named models and data may be read from, and their size caps (<c>Qst:Roots:*</c>; empty roots = anywhere).</summary>
    public Inputs.InputRoots Roots { get; set; } = new();
    /// <summary>At startup, side-trainer temp folders (<c>qst-side-*</c>, <c>qst-restore-*</c>) untouched for this long are deleted.</summary>
    public TimeSpan TempSweepAge { get; set; } = TimeSpan.FromHours(6);
    /// <summary>Where side trainers write and restore checkpoints.</summary>
    public CheckpointOptions Checkpoints { get; set; } = new();
    /// <summary>A job whose pipeline applied no micro-batch for this long while work is in flight recovers (watchdog).</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>How often a running job probes its stages and side trainer (a dead or re-activated one triggers recovery).</summary>
    public TimeSpan HealthCheckPeriod { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>How long the job waits for its side trainer or a stage to answer a health probe; no answer counts as a fault.</summary>
    public TimeSpan HealthProbeTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>The slowest link between silos the job's health probe must tolerate, Mbit/s (<c>Qst:MinLinkMbit</c>): the probe
    /// timeout grows by the time the tensors in flight take on such a link (a probe queues behind them). 0 = fixed timeout.</summary>
    public double MinLinkMbit { get; set; }
    /// <summary>How long one recovery keeps retrying (the cluster may still be noticing a dead silo) before the job fails.</summary>
    public TimeSpan RecoveryTimeout { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Recoveries in a row without a completed optimizer step after which the job fails with the last reason.</summary>
    public int MaxRecoveriesWithoutProgress { get; set; } = 5;
    /// <summary>Client authentication and job owners (<c>Qst:Auth:TokensFile</c>); unset = open to every client.</summary>
    public Security.AuthOptions Auth { get; set; } = new();
    /// <summary>libtorch intra-op threads of this silo process (<c>Qst:Threads</c>; 0 = one per core), pinned when the first silo of
    /// the process is configured (<see cref="ComputeThreads.PinOnceForSilos"/>). The process's stages and side trainers share them.</summary>
    public int Threads { get; set; }
    /// <summary>Keep freed step buffers in glibc's heap so later steps reuse them instead of page-faulting fresh memory
    /// (<c>Qst:AllocatorTuning</c>; <see cref="Model.Devices.NativeAllocatorTuning"/>). Process-wide, applied when the first silo of the
    /// process is configured; the cost is an RSS that does not shrink after a peak.</summary>
    public bool AllocatorTuning { get; set; } = true;
    /// <summary>Orleans' grain directory (<c>Qst:GrainDirectory</c>): <c>distributed</c> (default, strongly consistent: a silo's death
    /// leaves other silos' activations alone) or <c>partitioned</c> (Orleans' older default, which deactivates every activation whose
    /// entry the dead silo held; only to roll an upgrade through a cluster still running it). Every silo of a cluster must agree.</summary>
    public string GrainDirectory { get; set; } = GrainDirectories.Distributed;
}

public static class GrainDirectories
{
    public const string Distributed = "distributed", Partitioned = "partitioned";
}

public sealed class SlotOptions
{
    public string Device { get; set; } = "cpu:0";
    public double MemoryGiB { get; set; } = 8;
}
