using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.TestingHost;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Persistence;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Tests.Distributed;

/// <summary>
/// Silo setup of the in-process test clusters: one CPU slot per silo named after the silo ("Primary/cpu:0",
/// "Secondary_1/cpu:0", ...), checkpoints in a shared directory, in-memory reminders, and job state either in
/// memory (the shared fixture) or in the blob provider on a shared directory (the kill tests: Orleans' memory
/// storage keeps state in grains spread over the silos, so killing one may lose a job's record). Fast failure
/// detection and short watchdog periods, so a killed silo is noticed in seconds.
/// </summary>
public sealed class QstTestSilo : ISiloConfigurator
{
    public const string RootKey = "QstTestRoot";
    public const string DurableKey = "QstTestDurableState";
    public const string PerSiloCheckpointsKey = "QstTestPerSiloCheckpoints";
    public const string SlotsPerSiloKey = "QstTestSlotsPerSilo";
    public const string DataRootsKey = "QstTestDataRoots";

    /// <summary>A cluster of <paramref name="silos"/> silos keeping checkpoints (and durable state) under <paramref name="root"/>;
    /// with <paramref name="perSiloCheckpoints"/> each silo gets its own checkpoint directory (a misconfigured multi-host cluster).</summary>
    /// <param name="slotsPerSilo">CPU slots per silo: "cpu:0", "cpu:1", ...</param>
    /// <param name="serviceId">A fixed Orleans service id (durable state is kept per service): a cluster built again with the
    /// same root and id sees the state of the one before (a full restart).</param>
    /// <param name="dataRoots">The silos' <c>Qst:Roots:Data</c> (default: anywhere).</param>
    public static TestCluster Build(int silos, string root, bool durableState, bool perSiloCheckpoints = false, int slotsPerSilo = 1,
        string? serviceId = null, string? dataRoots = null)
    {
        var builder = new TestClusterBuilder((short)silos);
        builder.Properties[DataRootsKey] = dataRoots ?? "";
        if (serviceId is not null) builder.Options.ServiceId = serviceId;
        builder.Properties[RootKey] = root;
        builder.Properties[DurableKey] = durableState ? "true" : "false";
        builder.Properties[PerSiloCheckpointsKey] = perSiloCheckpoints ? "true" : "false";
        builder.Properties[SlotsPerSiloKey] = slotsPerSilo.ToString(System.Globalization.CultureInfo.InvariantCulture);
        builder.AddSiloBuilderConfigurator<QstTestSilo>();
        var cluster = builder.Build();
        cluster.Deploy();
        return cluster;
    }

    public void Configure(ISiloBuilder builder)
    {
        string name = builder.Configuration["Orleans:Name"] ?? builder.Configuration["SiloName"] ?? "silo";
        string root = builder.Configuration[RootKey] ?? throw new InvalidOperationException($"test cluster without {RootKey}");
        builder.AddQst(new QstSiloOptions
        {
            SiloName = name,
            Slots = Enumerable.Range(0, int.Parse(builder.Configuration[SlotsPerSiloKey] ?? "1", System.Globalization.CultureInfo.InvariantCulture))
                .Select(i => new SlotOptions { Device = $"cpu:{i}", MemoryGiB = 4 }).ToList(),
            Checkpoints = new CheckpointOptions
            {
                Store = "local", KeepLast = 2,
                Path = builder.Configuration[PerSiloCheckpointsKey] == "true" ? Path.Combine(root, "checkpoints", name) : Path.Combine(root, "checkpoints"),
            },
            Roots = new QstOrleans.Grains.Inputs.InputRoots { Data = builder.Configuration[DataRootsKey] ?? "" },
            StallTimeout = TimeSpan.FromSeconds(20),
            HealthCheckPeriod = TimeSpan.FromMilliseconds(500),
            RecoveryTimeout = TimeSpan.FromSeconds(60),
        });
        builder.UseInMemoryReminderService();
        builder.AddIncomingGrainCallFilter<AppliedRecorder>();
        builder.AddIncomingGrainCallFilter<InitializeGate>();
        // Fault tests call ReportFault, EnsureLoaded, Initialize from the test client (Client/ControlPlaneTests turns this off).
        builder.Services.Configure<ControlPlaneOptions>(o => o.AllowClientCalls = true);
        // Random placement (the default prefers the caller's silo, which stacks the side trainer onto the job grain's
        // silo): the kill tests need grains on distinct silos to kill one component at a time.
        builder.Services.AddSingleton<Orleans.Runtime.PlacementStrategy, Orleans.Runtime.RandomPlacement>();
        if (builder.Configuration[DurableKey] == "true")
            builder.AddBlobGrainStorage(QstProviders.State, _ => new LocalDirectoryBlobStore(Path.Combine(root, "state")));
        else
            builder.AddMemoryGrainStorage(QstProviders.State);
        builder.Configure<ClusterMembershipOptions>(m =>
        {
            m.ProbeTimeout = TimeSpan.FromSeconds(1);
            m.NumMissedProbesLimit = 2;
            m.NumVotesForDeathDeclaration = 1;
        });
    }
}
