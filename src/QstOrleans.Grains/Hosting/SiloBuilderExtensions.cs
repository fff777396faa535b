using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using QstOrleans.Grains.Placement;

namespace QstOrleans.Grains.Hosting;

/// <summary>
/// Adds QstOrleans to a silo: device slots published as silo metadata, slot placement, message limits, the strongly consistent
/// grain directory, the checkpoint
/// store, the error boundary (project exceptions cross silos as <see cref="QstErrorException"/>), the input guard
/// (<see cref="Inputs.InputGuard"/>, <c>Qst:Roots</c>) and the startup task that resumes unfinished jobs. The host must also register grain storage named
/// <see cref="QstProviders.State"/> and a reminder service (Redis on clusters, the blob provider for the embedded
/// default, or <see cref="AddQstInMemoryState"/> for tests and benchmarks).
/// </summary>
public static class SiloBuilderExtensions
{
    /// <exception cref="ArgumentException">The silo declares the same device slot twice, or an unknown <c>Qst:GrainDirectory</c>.</exception>
    public static ISiloBuilder AddQst(this ISiloBuilder builder, QstSiloOptions options)
    {
        var slots = options.Slots.Select(s => new DeviceSlot($"{options.SiloName}/{s.Device}", options.SiloName, s.Device, s.MemoryGiB)).ToList();
        if (slots.Select(s => s.Id).Distinct().Count() != slots.Count)
            throw new ArgumentException($"silo '{options.SiloName}' declares the same device slot twice: {string.Join(", ", slots.Select(s => s.Device))}");
        builder.UseSiloMetadata(SlotMetadata.Encode(options.SiloName, slots));
        builder.AddPlacementDirector<DeviceSlotPlacement, DeviceSlotPlacementDirector>();
        builder.AddPlacementDirector<SideTrainerPlacement, SideTrainerPlacementDirector>();
        if (options.Threads < 0) throw new ArgumentException($"silo '{options.SiloName}': Threads must be 0 (one per core) or positive, got {options.Threads}");
        ComputeThreads.PinOnceForSilos(options.Threads);   // process-wide, before any tensor op (see ComputeThreads)
        // Process-wide too; the first call wins (a CLI --local run applies its runtime.allocator_tuning before it gets here).
        Model.Devices.NativeAllocatorTuning.ApplyOnce(options.AllocatorTuning);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<CheckpointStores>();
        builder.Services.AddSingleton<SiloStopping>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SiloStopping>());
        builder.Services.AddSingleton(new Inputs.InputGuard(options.Roots));
        builder.Services.AddSingleton<Inputs.StoredDatasets>();
        builder.Services.AddSingleton<Inputs.StoredModels>();
        builder.Services.AddSingleton(_ => new Jobs.Planning.JobPlanner(new Jobs.Planning.JobPlanCache()));
        builder.AddStartupTask<ResumeJobsOnStartup>();
        builder.AddStartupTask<TempFolderSweep>();
        AddClusterKey(builder, options.Auth.ClusterKeyFile);
        builder.AddIncomingGrainCallFilter<ErrorBoundaryFilter>();
        // Before every other check, so an unauthenticated client learns nothing (not even which paths exist).
        if (!string.IsNullOrWhiteSpace(options.Auth.TokensFile)) Security.AuthSiloBuilderExtensions.AddQstAuthentication(builder, options.Auth);
        builder.AddIncomingGrainCallFilter<ControlPlaneFilter>();
        builder.AddIncomingGrainCallFilter<Inputs.InputGuardFilter>();
        builder.Configure<SiloMessagingOptions>(m => m.MaxMessageBodySize = options.MaxMessageBodyBytes);
        AddGrainDirectory(builder, options.GrainDirectory);
        return builder;
    }

    /// <summary>
    /// Orleans' strongly consistent grain directory instead of its older, eventually consistent default. With the default, when
    /// a silo dies every other silo deactivates its activations whose directory entry the dead silo held (Orleans' LocalGrainDirectory:
    /// "deactivated because server … was responsible for this activation's grain directory registration"): a job grain or stage
    /// on a healthy silo loses its in-memory pipeline, the next call re-activates it empty and the job recovers (issue 15: about
    /// one SIGKILL in two of a silo holding none of the job's grains, 3 processes + Redis). The distributed directory instead
    /// rebuilds a dead silo's ranges from the live silos' registered activations and keeps them. A cluster-wide protocol: every
    /// silo must run the same one (<see cref="QstSiloOptions.GrainDirectory"/>).
    /// </summary>
    /// <exception cref="ArgumentException"><c>Qst:GrainDirectory</c> is neither <c>distributed</c> nor <c>partitioned</c>.</exception>
    static void AddGrainDirectory(ISiloBuilder builder, string? directory)
    {
        switch (directory?.Trim().ToLowerInvariant())
        {
            case GrainDirectories.Distributed or null or "":
#pragma warning disable ORLEANSEXP003   // experimental in Orleans 10; the default directory is what loses the activations
                builder.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
                break;
            case GrainDirectories.Partitioned:
                break;   // Orleans' default
            default:
                throw new ArgumentException($"Qst:GrainDirectory: unknown value '{directory}' (use {GrainDirectories.Distributed} or {GrainDirectories.Partitioned})");
        }
    }

    /// <summary>The cluster key (<see cref="Security.ClusterKey"/>): read now, checked first on every incoming call, stamped on every outgoing one.</summary>
    /// <exception cref="ArgumentException">The key file is unreadable or too short (names <c>Qst:Auth:ClusterKeyFile</c>).</exception>
    static void AddClusterKey(ISiloBuilder builder, string? keyFile)
    {
        var key = string.IsNullOrWhiteSpace(keyFile) ? Security.ClusterKey.None : Security.ClusterKey.Load(keyFile);
        builder.Services.AddSingleton(key);
        if (!key.IsSet) return;
        builder.AddIncomingGrainCallFilter<Security.ClusterKeyCheck>();
        builder.AddOutgoingGrainCallFilter<Security.ClusterKeyStamp>();
    }

    /// <summary>Job state and reminders in memory: lost with the silo (tests, benchmarks, single-process runs without resume).</summary>
    public static ISiloBuilder AddQstInMemoryState(this ISiloBuilder builder)
    {
        builder.AddMemoryGrainStorage(QstProviders.State);
        builder.UseInMemoryReminderService();
        return builder;
    }
}
