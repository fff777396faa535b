using System.Diagnostics;
using System.Net;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Tests.EndToEnd;
using QstOrleans.Tests.Operations;

namespace QstOrleans.Tests.Persistence;

/// <summary>
/// Grain state through Orleans' own Azure providers (<c>Microsoft.Orleans.Persistence.AzureStorage</c>,
/// <c>Qst:State:Provider</c> azure-table and azure-blob) in a real silo process, against azurite's table and blob
/// endpoints. A job submitted with <c>qst train --detach</c> is paused mid-run; the silo is stopped (SIGTERM) and a new
/// silo process starts on the same storage. The job's record is in the table or container (read there directly), the new
/// silo reads it back (same state, step, losses and checkpoint), and resumed, the job completes with the per-step losses
/// of the uninterrupted single-process run. <c>/readyz</c> names the table or container in its state check, and fails
/// once that table or container is deleted.
/// </summary>
public sealed class AzureGrainStateTests(AzuriteTablesFixture azurite, ITestOutputHelper log) : IClassFixture<AzuriteTablesFixture>, IDisposable
{
    // 120 records in micro-batches of 4: 30 steps. The pause comes once checkpoint 2 is seen (at step 7 under load 40; the
    // window of 3 micro-batches drains after it), so it lands mid-run on a quiet box too; every step more is trained twice
    // per provider (the job and the single-process reference).
    const int Records = 120, Steps = 30, TrainSeed = 8;
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(120), RunTimeout = TimeSpan.FromSeconds(300);
    readonly TestDirectory _dir = new();
    readonly List<ChildProcess> _processes = [];

    [Theory]
    [InlineData("azure-table")]
    [InlineData("azure-blob")]
    public async Task APausedJobsStateSurvivesASiloRestartAndTheJobCompletes(string provider)
    {
        string model = _dir.File("tiny"), data = _dir.File("data.jsonl");
        MakeModelCommand.Run("tiny", model, seed: 8);
        SyntheticDatasets.WriteAlpacaJsonl(data, Records, seed: 8);
        string id = $"{Guid.NewGuid():N}"[..10];
        string jobId = $"azs-{id}", clusterId = $"azs-{id}", table = $"state{id}", container = $"state-{id}";
        string[] storage =
        [
            "--Qst:ClusterId", clusterId, "--Qst:State:Provider", provider, "--Qst:State:Table", table, "--Qst:State:Container", container,
            "--Qst:Checkpoints:Store", "azure", "--Qst:Checkpoints:ConnectionString", azurite.ConnectionString, "--Qst:Checkpoints:Container", $"ckpt-{id}",
        ];
        string expectedState = provider == "azure-table" ? $"state: ok table {table}" : $"state: ok container {container}";

        var (first, gateway, http) = await StartSilo("azs-1", storage, expectedState);
        // Ready before the first checkpoint: the checkpoint store creates its container then.
        Assert.Contains($"checkpoints: ok container ckpt-{id} (created by the first write)", (await SiloHttp.Get(http, "readyz")).Body);
        using (var submit = Track(new ChildProcess("qst train --detach", "dotnet",
            [RepoPaths.QstDll, .. SoloRun.TrainArgs(model, data, TrainSeed, Steps, stages: 1), "--job-id", jobId, "--checkpoint-every", "2",
             "--detach", "--gateway", gateway.ToString(), "--cluster-id", clusterId], _dir.Path)))
            Assert.True(await submit.WaitForExit(Startup) == 0, $"qst train --detach failed:\n{submit.Output}");
        JobProgress before;
        await using (var client = await Connect(gateway, clusterId))
        {
            await Eventually.WaitUntil($"job {jobId} to pass a checkpoint", () => Eventually.Retry(() => client.StatusAsync(jobId)),
                p => p.LastCheckpointStep >= 2, RunTimeout, abort: p => p.IsFinished ? $"it ended ({p.State}) first: {p.Message}" : null,
                poll: TimeSpan.FromMilliseconds(20));
            await client.PauseAsync(jobId, awaitQuiescence: true);
            // Quiescent means no micro-batch in flight; the checkpoint of the last even step (--checkpoint-every 2) may
            // still be uploading in the background and commit a moment later. Wait for it, so the record compared after
            // the restart is the one a finished upload leaves.
            before = await client.StatusAsync(jobId);
            int lastDue = before.Step - before.Step % 2;
            before = await Eventually.WaitUntil($"checkpoint {lastDue} of paused job {jobId}", () => Eventually.Retry(() => client.StatusAsync(jobId)),
                p => p.LastCheckpointStep >= lastDue, RunTimeout, poll: TimeSpan.FromMilliseconds(20));
        }
        Assert.Equal(JobState.Paused, before.State);
        Assert.InRange(before.Step, 2, Steps - 1);
        await Stop(first);
        log.WriteLine($"{provider}: paused at step {before.Step} (checkpoint {before.LastCheckpointStep}); silo stopped");

        // Independently of Orleans: the job's record is in the table or container the silo was given.
        var stored = provider == "azure-table" ? await TableKeys(table) : await BlobNames(container);
        log.WriteLine($"stored: {string.Join(", ", stored)}");
        Assert.Contains(stored, key => key.Contains(jobId, StringComparison.Ordinal));

        var (second, gateway2, http2) = await StartSilo("azs-2", storage, expectedState);
        await using (var client = await Connect(gateway2, clusterId))
        {
            var after = await Eventually.Retry(() => client.StatusAsync(jobId));
            Assert.Equal(JobState.Paused, after.State);
            Assert.Equal(before.Step, after.Step);
            Assert.Equal(before.LastCheckpointStep, after.LastCheckpointStep);
            Assert.Equal(before.Losses, after.Losses);

            await client.ResumeAsync(jobId);
            var final = await Eventually.WaitUntil($"job {jobId} to finish", () => Eventually.Retry(() => client.StatusAsync(jobId)),
                p => p.IsFinished, RunTimeout, poll: TimeSpan.FromMilliseconds(100));
            Assert.True(final.State == JobState.Completed, $"{final.State}: {final.Message}\n{second.Output}");
            Assert.Equal(Steps, final.Step);
            var (losses, _) = SoloRun.Train(model, data, TrainSeed, Steps, _dir.File("solo"));
            Assert.Equal(losses, final.Losses);
        }

        // The readiness check reads the store: without its table or container the silo is live but not ready.
        if (provider == "azure-table") await new TableServiceClient(azurite.ConnectionString).DeleteTableAsync(table);
        else await new BlobContainerClient(azurite.ConnectionString, container).DeleteAsync();
        var unready = await Eventually.WaitUntil("/readyz to answer 503", () => SiloHttp.Get(http2, "readyz"),
            r => r.Status == HttpStatusCode.ServiceUnavailable, Startup);
        Assert.Contains(provider == "azure-table" ? $"state: FAIL table {table} does not exist" : "state: FAIL", unready.Body);
        log.WriteLine(unready.Body);
    }

    async Task<(ChildProcess Silo, int Gateway, int Http)> StartSilo(string name, string[] storage, string expectedState)
    {
        int gateway = Loopback.FreePort(), http = Loopback.FreePort();
        var silo = Track(new ChildProcess(name, "dotnet",
        [
            RepoPaths.SiloDll, "--Qst:SiloName", name, "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", gateway.ToString(),
            "--Qst:Http:Port", http.ToString(), .. storage,
        ], _dir.Path));
        await silo.WaitForOutput($"silo {name} up", Startup);
        var ready = await Eventually.WaitUntil($"{name}'s /readyz to answer 200", () => SiloHttp.Get(http, "readyz"),
            r => r.Status == HttpStatusCode.OK, Startup);
        Assert.Contains(expectedState, ready.Body);
        return (silo, gateway, http);
    }

    static Task<QstClient> Connect(int gateway, string clusterId) =>
        QstClient.ConnectAsync(new QstClientOptions { GatewayPorts = [gateway], ClusterId = clusterId });

    /// <summary>SIGTERM (a graceful stop, what systemd and Kubernetes send), then waits for exit code 0.</summary>
    static async Task Stop(ChildProcess silo)
    {
        using (var kill = Process.Start("kill", ["-TERM", silo.Id.ToString()]))
            await kill.WaitForExitAsync();
        Assert.True(await silo.WaitForExit(TimeSpan.FromSeconds(60)) == 0, $"silo {silo.Name} did not stop cleanly:\n{silo.Output}");
    }

    async Task<List<string>> TableKeys(string table)
    {
        var keys = new List<string>();
        await foreach (var row in new TableClient(azurite.ConnectionString, table).QueryAsync<TableEntity>())
            keys.Add($"{row.PartitionKey}|{row.RowKey}");
        return keys;
    }

    async Task<List<string>> BlobNames(string container)
    {
        var names = new List<string>();
        await foreach (var blob in new BlobContainerClient(azurite.ConnectionString, container).GetBlobsAsync())
            names.Add(blob.Name);
        return names;
    }

    ChildProcess Track(ChildProcess process)
    {
        _processes.Add(process);
        return process;
    }

    public void Dispose()
    {
        foreach (var process in _processes) process.Dispose();
        _dir.Dispose();
    }
}
