using System.Diagnostics;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Cli.Shared;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// The multi-host cluster of <c>deploy/netns-cluster.sh</c>: Redis and two silos in their own network namespaces (own
/// addresses, advertised; the same ports in each), a shared checkpoint directory, the client in the root namespace.
/// A two-stage job runs across both "hosts"; after a few steps the silo that does not host the job grain is killed with
/// SIGKILL, and the job must recover from the shared checkpoint store and end with per-step losses and side weights
/// bitwise equal to the uninterrupted single-process run (<see cref="SoloRun"/>). The script's <c>down</c> always runs
/// and must leave none of the test's namespaces behind. Runs only as root (<c>.ci/run</c> runs as root).
/// </summary>
public sealed class NetnsClusterTests(ITestOutputHelper log) : IDisposable
{
    const int Steps = 24, TrainSeed = 6;
    readonly string _root = Directory.CreateTempSubdirectory("qst-netns-").FullName;
    readonly List<ChildProcess> _processes = [];

    [NetnsFact]
    public async Task ATwoHostJobSurvivesTheLossOfAHostAndEqualsTrainLocal()
    {
        var clock = Stopwatch.StartNew();
        string model = Path.Combine(_root, "tiny"), data = Path.Combine(_root, "data.jsonl"), state = Path.Combine(_root, "netns");
        MakeModelCommand.Run("tiny", model, seed: 6);
        SyntheticDatasets.WriteAlpacaJsonl(data, 96, seed: 6);
        // Names and subnet of our own, so a cluster started by hand (prefix qst, 10.77.0) or another run is not touched.
        string prefix = $"qt{Random.Shared.Next(0x10000):x4}", subnet = $"10.231.{Random.Shared.Next(1, 255)}", clusterId = $"ns-{prefix}";
        string configuration = new DirectoryInfo(Path.GetDirectoryName(RepoPaths.SiloDll)!).Parent!.Name;
        try
        {
            var up = await Script("up", "--hosts", "2", "--prefix", prefix, "--subnet", subnet, "--state", state, "--cluster-id", clusterId,
                "--configuration", configuration, "--no-build", "--rate", "1gbit");
            log.WriteLine($"up in {clock.Elapsed.TotalSeconds:F1} s:\n{up}");
            // The rate action swaps the limit of a running cluster in place (qst bench wire changes it between runs).
            await Script("rate", "500mbit", "--state", state);
            Assert.Contains("rate 500Mbit", await Script("status", "--state", state));
            await Script("rate", "1gbit", "--state", state);
            string redis = $"{subnet}.2:6379";

            string jobId = $"netns-{Guid.NewGuid():N}"[..16];
            var train = Track(new ChildProcess("qst train", "dotnet",
            [
                RepoPaths.QstDll, .. SoloRun.TrainArgs(model, data, TrainSeed, Steps, stages: 2), "--job-id", jobId, "--checkpoint-every", "2",
                "--redis", redis, "--cluster-id", clusterId,
            ], _root));
            await using var client = await QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = redis, ClusterId = clusterId });
            var before = await WaitForStep(client, jobId, 4, train);
            Assert.Equal(2, before.Placement.Values.Select(slot => slot.Split('/')[0]).Distinct().Count());

            string victim = before.JobSilo == "h1" ? "h2" : "h1";
            int pid = int.Parse(File.ReadAllText(Path.Combine(state, $"silo-{victim}.pid")).Trim());
            log.WriteLine($"step {before.Step}: stages {string.Join(", ", before.Placement.Values)}, job on {before.JobSilo}, side on {before.SideSilo}; kill -9 {victim} (pid {pid})");
            using (var process = Process.GetProcessById(pid))
            {
                process.Kill();
                process.WaitForExit(10_000);
            }

            int code = await train.WaitForExit(TimeSpan.FromSeconds(180));
            log.WriteLine(train.Output);
            Assert.True(code == 0, $"qst train exited with {code}:\n{train.Output}\n--- silo logs ---\n{SiloLogs(state)}");
            var final = await client.StatusAsync(jobId);
            Assert.Equal(JobState.Completed, final.State);
            Assert.Equal(Steps, final.Step);
            Assert.NotEmpty(final.Recoveries);
            foreach (var r in final.Recoveries)
                log.WriteLine($"recovery {r.Attempt}: {r.Reason.Split('\n')[0]}; resumed from step {r.ResumedFromStep}, first step {r.SecondsToFirstStep:F1} s after detection");

            var (losses, weights) = SoloRun.Train(model, data, TrainSeed, Steps, Path.Combine(_root, "solo"));
            Assert.Equal(losses, final.Losses);
            var distributed = await client.Grains.GetGrain<ISideTrainerGrain>(jobId).GetWeights();
            Assert.Equal(weights.Keys.Order(), distributed.Keys.Order());
            foreach (var (name, bytes) in weights)
                Assert.True(bytes.AsSpan().SequenceEqual(distributed[name].Data), $"weight '{name}' differs from the single-process run");
        }
        finally
        {
            foreach (var process in _processes) process.Dispose();
            log.WriteLine(await Script("down", "--state", state));
            string left = (await Run("ip", "netns", "list")).Output;
            Assert.DoesNotContain(prefix, left);
            log.WriteLine($"whole test {clock.Elapsed.TotalSeconds:F1} s");
        }
    }

    Task<string> Script(params string[] arguments) =>
        Run("bash", [Path.Combine(RepoPaths.Root, "deploy", "netns-cluster.sh"), .. arguments]).ContinueWith(t =>
        {
            var (code, output) = t.Result;
            return code == 0 ? output : throw new InvalidOperationException($"netns-cluster.sh {arguments[0]} exited with {code}:\n{output}");
        });

    static async Task<(int Code, string Output)> Run(string file, params string[] arguments)
    {
        using var process = new ChildProcess(file, file, arguments);
        int code = await process.WaitForExit(TimeSpan.FromSeconds(240));
        return (code, process.Output);
    }

    static async Task<JobProgress> WaitForStep(QstClient client, string jobId, int step, ChildProcess train)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(180);
        while (true)
        {
            try
            {
                var progress = await client.StatusAsync(jobId);
                if (progress.Step >= step && progress.JobSilo is not null && progress.Placement.Count > 0) return progress;
                if (progress.IsFinished) throw new InvalidOperationException($"job {jobId} finished before step {step}: {progress.State} {progress.Message}");
            }
            catch (Exception e) when (e is not InvalidOperationException && !train.HasExited && DateTime.UtcNow < deadline)
            {
                // Not submitted yet (unknown job) or the cluster is still settling.
            }
            if (train.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"job {jobId} never reached step {step}:\n{train.Output}");
            await Task.Delay(50);
        }
    }

    ChildProcess Track(ChildProcess process)
    {
        _processes.Add(process);
        return process;
    }

    static string SiloLogs(string state) => string.Join("\n", Directory.EnumerateFiles(state, "silo-*.log")
        .Select(f => $"--- {Path.GetFileName(f)} ---\n{string.Join('\n', File.ReadAllLines(f).TakeLast(40))}"));

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A fact that runs only where network namespaces can be made: as root, with iproute2 and redis-server.</summary>
public sealed class NetnsFactAttribute : FactAttribute
{
    public NetnsFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "network namespaces need Linux";
        else if (Environment.UserName != "root") Skip = "needs root (ip netns, ip link, tc); .ci/run runs it as root";
        else if (!new[] { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" }.Any(File.Exists)) Skip = "iproute2 (ip) is not installed";
        else if (!new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server" }.Any(File.Exists))
            Skip = "redis-server is not installed (.ci/run installs it)";
    }
}
