using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Uploads;

/// <summary>
/// <c>qst train --data local.jsonl</c> against a real 2-silo cluster (silo processes, Redis clustering) whose silos may read
/// data only under their own <c>Qst:Roots:Data</c>: the client's file lies elsewhere, so the command (default <c>--upload
/// auto</c>) uploads it, says so, and the job — split over both silos — trains on the stored copy with losses bitwise equal to
/// <c>train-local</c> on the client's file. With <c>--upload never</c> the same command is refused naming the data root.
/// </summary>
public sealed class TrainUploadClusterTests(ITestOutputHelper log) : IDisposable
{
    const int Steps = 4, Seed = 8;
    readonly string _root = Directory.CreateTempSubdirectory("qst-upload-e2e-").FullName;
    readonly List<ChildProcess> _processes = [];

    ChildProcess Start(ChildProcess process)
    {
        _processes.Add(process);
        return process;
    }

    [Fact]
    public async Task QstTrainUploadsDataTheSilosCannotSeeAndTrainsBitwiseLikeTrainLocal()
    {
        string model = Path.Combine(_root, "tiny"), siloData = Directory.CreateDirectory(Path.Combine(_root, "silo-data")).FullName;
        string data = Path.Combine(Directory.CreateDirectory(Path.Combine(_root, "client-only")).FullName, "data.jsonl");
        string clusterId = $"up-{Guid.NewGuid():N}"[..12];
        MakeModelCommand.Run("tiny", model, seed: 4);
        SyntheticDatasets.WriteAlpacaJsonl(data, 32, seed: 4);
        var (redis, redisPort) = Loopback.StartRedis(_root);
        Start(redis);
        string redisConnection = $"127.0.0.1:{redisPort}";
        string[] SiloArgs(string name) =>
        [
            RepoPaths.SiloDll, "--Qst:Clustering", "redis", "--Qst:Redis", redisConnection, "--Qst:ClusterId", clusterId,
            "--Qst:SiloName", name, "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(),
            "--Qst:Slots:0:Device", "cpu:0", "--Qst:Http:Port", "0", "--Qst:Roots:Data", siloData,
        ];
        var silos = new[] { "silo-a", "silo-b" }.Select(n => Start(new ChildProcess(n, "dotnet", SiloArgs(n), _root))).ToList();
        await Task.WhenAll(silos.Select(s => s.WaitForOutput($"silo {s.Name} up", TimeSpan.FromSeconds(90))));
        string[] Train(string jobId, string upload) =>
            [RepoPaths.QstDll, .. SoloRun.TrainArgs(model, data, Seed, Steps, stages: 2), "--job-id", jobId, "--redis", redisConnection, "--cluster-id", clusterId, "--upload", upload];

        var never = Start(new ChildProcess("qst train never", "dotnet", Train("by-path", "never"), _root));
        int refused = await never.WaitForExit(TimeSpan.FromSeconds(180));
        Assert.True(refused == 2 && never.Output.Contains("Qst:Roots:Data"), $"exit {refused}:\n{never.Output}");

        var train = Start(new ChildProcess("qst train", "dotnet", Train("uploaded", "auto"), _root));
        int code = await train.WaitForExit(TimeSpan.FromSeconds(240));
        log.WriteLine(train.Output);
        Assert.True(code == 0, $"qst train exited with {code}:\n{train.Output}\n{string.Join("\n", silos.Select(s => s.Output))}");
        Assert.Contains($"data: the cluster does not see {data}", train.Output);
        string stored = train.Output.Split('\n').Single(l => l.StartsWith("data: stored as store:datasets/", StringComparison.Ordinal));
        string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(data)));
        Assert.Contains($"store:datasets/{sha}/data.jsonl", stored);

        await using var client = await QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = redisConnection, ClusterId = clusterId });
        var done = await client.StatusAsync("uploaded");
        Assert.Equal((JobState.Completed, Steps), (done.State, done.Step));
        Assert.Equal(2, done.Placement.Values.Select(p => p.Split('/')[0]).Distinct().Count());   // both silos ran a stage
        var (losses, _) = SoloRun.Train(model, data, Seed, Steps, Path.Combine(_root, "solo"));
        Assert.Equal(losses.Select(BitConverter.SingleToInt32Bits), done.Losses.Select(BitConverter.SingleToInt32Bits));
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes)) process.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
