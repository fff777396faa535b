using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;
using QstOrleans.Grains.Persistence;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Tests.Persistence;

public interface IBlobStateProbeGrain : IGrainWithStringKey
{
    Task<long> Add(long amount);
    Task<(long Total, int Writes)> Get();
    Task Deactivate();
}

[GenerateSerializer]
public sealed class ProbeState
{
    [Id(0)] public long Total { get; set; }
    [Id(1)] public int Writes { get; set; }
}

/// <summary>A grain with one <c>[PersistentState]</c> on the blob provider under test.</summary>
public sealed class BlobStateProbeGrain([PersistentState("probe", BlobGrainStorageClusterTests.Provider)] IPersistentState<ProbeState> state)
    : Grain, IBlobStateProbeGrain
{
    public async Task<long> Add(long amount)
    {
        state.State.Total += amount;
        state.State.Writes++;
        await state.WriteStateAsync();
        return state.State.Total;
    }

    public Task<(long Total, int Writes)> Get() => Task.FromResult((state.State.Total, state.State.Writes));

    public Task Deactivate()
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}

/// <summary>
/// The provider inside a real (in-process) silo, with the silo's default grain-state serializer: a grain's state
/// survives its deactivation and a whole-cluster restart over the same directory, as the embedded default needs.
/// </summary>
public sealed class BlobGrainStorageClusterTests : IDisposable
{
    public const string Provider = "blob-test";
    readonly TestDirectory _dir = new();

    sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder builder)
        {
            string root = builder.Configuration["BlobStateRoot"]!;
            builder.AddBlobGrainStorage(Provider, _ => new LocalDirectoryBlobStore(root));
        }
    }

    TestCluster Start()
    {
        var builder = new TestClusterBuilder(1);
        builder.Properties["BlobStateRoot"] = _dir.Path;
        // TestCluster draws a new ServiceId per build; a restarted service keeps its id (state blobs are under it).
        builder.Options.ServiceId = "blob-probe-service";
        builder.AddSiloBuilderConfigurator<Configurator>();
        var cluster = builder.Build();
        cluster.Deploy();
        return cluster;
    }

    [Fact]
    public async Task StateSurvivesDeactivationAndAClusterRestart()
    {
        var first = Start();
        try
        {
            var grain = first.Client.GetGrain<IBlobStateProbeGrain>("job/1");
            Assert.Equal(5, await grain.Add(5));
            await grain.Deactivate();
            Assert.Equal(12, await grain.Add(7));    // a new activation read 5 back
        }
        finally
        {
            await first.StopAllSilosAsync();
            await first.DisposeAsync();
        }
        // One blob, under the service's id and the escaped key.
        var blobs = await new LocalDirectoryBlobStore(_dir.Path).ListAsync("state/");
        var blob = Assert.Single(blobs);
        Assert.Equal("state/blob-probe-service/probe/blobstateprobe/job_2f1", blob.Name);

        var second = Start();
        try
        {
            var grain = second.Client.GetGrain<IBlobStateProbeGrain>("job/1");
            Assert.Equal((12L, 2), await grain.Get());
            Assert.Equal(13, await grain.Add(1));
        }
        finally
        {
            await second.StopAllSilosAsync();
            await second.DisposeAsync();
        }
    }

    public void Dispose() => _dir.Dispose();
}
