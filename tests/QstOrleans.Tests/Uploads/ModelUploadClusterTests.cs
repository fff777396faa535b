using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Uploads;

/// <summary>
/// Models by store URI from the command line, against a real 2-silo cluster (silo processes, Redis clustering) whose silos read
/// models only under their own <c>Qst:Roots:Models</c> and data only under <c>Qst:Roots:Data</c>; the client's model directory
/// and data file lie elsewhere. <c>qst train --model DIR</c> is refused with <c>--upload never</c> (naming the model root), and by
/// default uploads both; the job, split over both silos (each loading its stage from its own copy of the stored model), trains
/// with losses bitwise equal to <c>train-local</c>. <c>qst upload --model / --data</c> then print the same store URIs (nothing
/// sent again), and a job naming only those URIs trains the same losses.
/// </summary>
public sealed class ModelUploadClusterTests(ITestOutputHelper log) : IDisposable
{
    const int Steps = 4, Seed = 9;
    readonly string _root = Directory.CreateTempSubdirectory("qst-model-e2e-").FullName;
    readonly List<ChildProcess> _processes = [];

    ChildProcess Start(ChildProcess process)
    {
        _processes.Add(process);
        return process;
    }

    [Fact]
    public async Task QstTrainUploadsAModelTheSilosCannotSeeAndQstUploadPrintsItsUri()
    {
        string clientOnly = Directory.CreateDirectory(Path.Combine(_root, "client-only")).FullName;
        string model = Path.Combine(clientOnly, "tiny"), data = Path.Combine(clientOnly, "data.jsonl");
        string siloModels = Directory.CreateDirectory(Path.Combine(_root, "silo-models")).FullName;
        string siloData = Directory.CreateDirectory(Path.Combine(_root, "silo-data")).FullName;
        string clusterId = $"mu-{Guid.NewGuid():N}"[..12];
        MakeModelCommand.Run("tiny", model, seed: 6);
        SyntheticDatasets.WriteAlpacaJsonl(data, 32, seed: 6);
        var (redis, redisPort) = Loopback.StartRedis(_root);
        Start(redis);
        string redisConnection = $"127.0.0.1:{redisPort}";
        string[] SiloArgs(string name) =>
        [
            RepoPaths.SiloDll, "--Qst:Clustering", "redis", "--Qst:Redis", redisConnection, "--Qst:ClusterId", clusterId,
            "--Qst:SiloName", name, "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(),
            "--Qst:Slots:0:Device", "cpu:0", "--Qst:Http:Port", "0", "--Qst:Roots:Data", siloData, "--Qst:Roots:Models", siloModels,
        ];
        var silos = new[] { "silo-a", "silo-b" }.Select(n => Start(new ChildProcess(n, "dotnet", SiloArgs(n), _root))).ToList();
        await Task.WhenAll(silos.Select(s => s.WaitForOutput($"silo {s.Name} up", TimeSpan.FromSeconds(90))));
        string[] Cluster() => ["--redis", redisConnection, "--cluster-id", clusterId];
        string[] Train(string jobId, string modelRef, string dataRef, string upload) =>
            [RepoPaths.QstDll, .. SoloRun.TrainArgs(modelRef, dataRef, Seed, Steps, stages: 2), "--job-id", jobId, .. Cluster(), "--upload", upload];
        async Task<ChildProcess> Run(string name, string[] args, int expected)
        {
            var process = Start(new ChildProcess(name, "dotnet", args, _root));
            int code = await process.WaitForExit(TimeSpan.FromSeconds(240));
            log.WriteLine($"$ qst {name} → {code}\n{process.Output}");
            Assert.True(code == expected, $"{name} exited with {code}, expected {expected}:\n{process.Output}\n{string.Join("\n", silos.Select(s => s.Output))}");
            return process;
        }

        var never = await Run("train never", Train("by-path", model, data, "never"), 2);
        Assert.Contains("Qst:Roots:Models", never.Output);

        var train = await Run("train auto", Train("uploaded", model, data, "auto"), 0);
        Assert.Contains($"model: the cluster does not see {model}", train.Output);
        string modelUri = train.Output.Split('\n').Single(l => l.StartsWith("model: stored as store:models/", StringComparison.Ordinal))
            .Split(' ')[3];
        await using var client = await QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = redisConnection, ClusterId = clusterId });
        var done = await client.StatusAsync("uploaded");
        Assert.Equal((JobState.Completed, Steps), (done.State, done.Step));
        Assert.Equal(2, done.Placement.Values.Select(p => p.Split('/')[0]).Distinct().Count());   // both silos loaded a stage from the store
        var (losses, _) = SoloRun.Train(model, data, Seed, Steps, Path.Combine(_root, "solo"));
        Assert.Equal(losses.Select(BitConverter.SingleToInt32Bits), done.Losses.Select(BitConverter.SingleToInt32Bits));

        // qst upload: the URI alone on the last line; the same content is already there.
        var uploadModel = await Run("upload --model", [RepoPaths.QstDll, "upload", "--model", model, .. Cluster()], 0);
        Assert.Contains($"model: already in the cluster's store as {modelUri} (nothing sent)", uploadModel.Output);
        Assert.Equal(modelUri, uploadModel.Output.TrimEnd().Split('\n')[^1].Trim());
        var uploadData = await Run("upload --data", [RepoPaths.QstDll, "upload", "--data", data, .. Cluster()], 0);
        string dataUri = uploadData.Output.TrimEnd().Split('\n')[^1].Trim();
        Assert.StartsWith("store:datasets/", dataUri);
        await Run("upload both", [RepoPaths.QstDll, "upload", "--model", model, "--data", data, .. Cluster()], 2);

        // The printed URIs as --model / --data of a later job: same losses.
        var byUri = await Run("train by uri", Train("by-uri", modelUri, dataUri, "never"), 0);
        Assert.DoesNotContain("uploading", byUri.Output);
        var again = await client.StatusAsync("by-uri");
        Assert.Equal(losses.Select(BitConverter.SingleToInt32Bits), again.Losses.Select(BitConverter.SingleToInt32Bits));
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes)) process.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
