using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Grains.Hosting;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Client;

/// <summary>
/// With the silos' default (<see cref="ControlPlaneOptions.AllowClientCalls"/> false), a client's call to a
/// <see cref="ControlPlaneAttribute"/> method is refused with a message naming it, nothing happens to the job, and the
/// pipeline, whose grains make those calls among themselves, still trains to the end. Its own one-silo cluster: the shared
/// fixture lets clients in (the fault tests call ReportFault directly).
/// </summary>
public sealed class ControlPlaneTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("qst-control-plane-").FullName;
    readonly TestCluster _cluster;

    public ControlPlaneTests()
    {
        MakeModelCommand.Run("tiny", Path.Combine(_root, "tiny"), seed: 11);
        SyntheticDatasets.WriteAlpacaJsonl(Path.Combine(_root, "data.jsonl"), 48, seed: 11);
        var builder = new TestClusterBuilder(1);
        builder.Properties[QstTestSilo.RootKey] = _root;
        builder.Properties[QstTestSilo.DurableKey] = "false";
        builder.AddSiloBuilderConfigurator<QstTestSilo>();
        builder.AddSiloBuilderConfigurator<RefuseClients>();   // after QstTestSilo's AllowClientCalls = true: the last one wins
        _cluster = builder.Build();
        _cluster.Deploy();
    }

    sealed class RefuseClients : ISiloConfigurator
    {
        public void Configure(ISiloBuilder builder) => builder.Services.Configure<ControlPlaneOptions>(o => o.AllowClientCalls = false);
    }

    [Fact]
    public async Task ClientCallsToInternalMethodsAreRefusedAndThePipelineStillRuns()
    {
        var client = new QstClient(_cluster.Client);
        const string id = "guarded";
        var spec = new JobSpec
        {
            ModelDirectory = Path.Combine(_root, "tiny"), DataFile = Path.Combine(_root, "data.jsonl"), MaxSteps = 3, Epochs = 5,
            MicroBatchSize = 4, Seed = 3, Stages = 1, Window = 2,
        };
        Assert.Equal(SubmitOutcome.Started, (await client.SubmitAsync(id, spec)).Outcome);
        var job = _cluster.Client.GetGrain<ITrainingJobGrain>(id);

        var side = _cluster.Client.GetGrain<ISideTrainerGrain>(id);
        var empty = new TensorPayload([], [0], WireDType.Int64);
        var refused = await Assert.ThrowsAsync<QstErrorException>(() => side.SubmitBatch(new SideBatch(0, 0, empty, empty, 0)));
        Assert.Contains("ISideTrainerGrain.SubmitBatch is internal", refused.Message);
        // One-way methods return before the silo decides: their refusal shows as no effect (checked below: the job
        // neither fails nor recovers). Taken, either would end or restart the job.
        await job.Fail("a client pretending to be a stage");
        await job.ReportFault(0, "fake fault");

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        JobStateChanged? last = null;
        await foreach (var e in client.WatchAsync(id, cancel: timeout.Token)) last = e as JobStateChanged ?? last;
        var done = await client.StatusAsync(id);
        Assert.Equal(JobState.Completed, done.State);
        Assert.Equal(0, done.Attempt);   // the fake fault was not taken: no recovery
        Assert.Empty(done.Recoveries);
        Assert.Equal(JobState.Completed, last?.State);
    }

    public void Dispose()
    {
        _cluster.StopAllSilos();
        _cluster.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
