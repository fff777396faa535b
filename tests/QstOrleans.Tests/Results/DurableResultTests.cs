using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Grains.Hosting;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Storage.Blobs;
using QstOrleans.Storage.Checkpoints;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Results;

/// <summary>
/// Issue 16's end-to-end check: a 2-silo cluster job (2 stages, lean taps) completes; the cluster is stopped whole and
/// started again on the same stores; <see cref="QstClientResults.DownloadResultAsync"/> then returns, chunk by chunk through
/// the cluster, files bitwise equal to <c>train-local --out</c>'s export of the same config (the independent reference),
/// and <c>qst export</c> of the job's final checkpoint folder gives the same files again. A corrupt stored file is refused
/// naming it; a job without a result gets an error naming the job.
/// </summary>
public sealed class DurableResultTests(ITestOutputHelper output) : IDisposable
{
    const int Steps = 4;
    const string JobId = "durable-result";
    static readonly string[] ExportFiles = [SideNetworkExport.WeightsFile, SideNetworkExport.ConfigFile];
    readonly TestDirectory _dir = new();

    JobSpec Spec() => new()
    {
        ModelDirectory = _dir["tiny"], DataFile = _dir["data.jsonl"], Epochs = 1, MaxSteps = Steps, MicroBatchSize = 4,
        GradientAccumulation = 2, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 5, Window = 3, Stages = 2, CheckpointEverySteps = 2,
    };

    string Checkpoints => Path.Combine(_dir.Path, "checkpoints");

    [Fact]
    public async Task AClusterJobsResultSurvivesAFullRestartAndEqualsTrainLocalsExport()
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 13);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["data.jsonl"], 64, seed: 13);

        var first = QstTestSilo.Build(2, _dir.Path, durableState: true, serviceId: "durable-result-tests");
        try
        {
            var job = first.Client.GetGrain<ITrainingJobGrain>(JobId);
            var started = await job.Start(Spec());
            Assert.True(started.State == JobState.Running, started.Message);
            var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
            Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
            // Completed is read only once the result is committed: no waiting for it here.
            var results = new CheckpointStore(new LocalDirectoryBlobStore(Checkpoints), $"{CheckpointStores.Prefix(JobId)}/result");
            Assert.Equal([(long)Steps], await results.ListStepsAsync());
            // The final checkpoint is committed too, and the job records it (the report is one-way: it may trail Completed).
            var recorded = await Eventually.WaitUntil("the job to record the final checkpoint", () => job.GetProgress(),
                p => p.LastCheckpointStep == Steps, TimeSpan.FromSeconds(30));
            Assert.Equal(Steps, recorded.LastCheckpointStep);
            Assert.Equal(Steps, (await job.ListCheckpoints()).Single(c => c.IsLatest).Step);
        }
        finally
        {
            await first.StopAllSilosAsync();
            await first.DisposeAsync();
        }

        // A full restart: nothing of the job is in memory any more.
        var second = QstTestSilo.Build(2, _dir.Path, durableState: true, serviceId: "durable-result-tests");
        try
        {
            var client = new QstClient(second.Client);
            var status = await client.StatusAsync(JobId);
            Assert.Equal((JobState.Completed, Steps), (status.State, status.Step));

            // A stored file that does not verify is refused, naming it (then repaired).
            string stored = Directory.EnumerateFiles(Path.Combine(Checkpoints, CheckpointStores.Prefix(JobId), "result"), SideNetworkExport.WeightsFile,
                SearchOption.AllDirectories).Single();
            var original = await File.ReadAllBytesAsync(stored);
            var damaged = original.ToArray();
            damaged[^1] ^= 0x5a;
            await File.WriteAllBytesAsync(stored, damaged);
            var corrupt = await Assert.ThrowsAsync<InvalidOperationException>(() => client.DownloadResultAsync(JobId, _dir["corrupt"]));
            output.WriteLine($"corrupt: {corrupt.Message}");
            Assert.Contains(SideNetworkExport.WeightsFile, corrupt.Message);
            Assert.Contains("SHA-256", corrupt.Message);
            Assert.False(File.Exists(Path.Combine(_dir["corrupt"], SideNetworkExport.WeightsFile)));
            await File.WriteAllBytesAsync(stored, original);

            // 4 KiB chunks: the weights take many calls.
            var result = await client.DownloadResultAsync(JobId, _dir["downloaded"], chunkBytes: 4 << 10);
            Assert.Equal(Steps, result.Step);
            Assert.True(result.Files.Single(f => f.Name == SideNetworkExport.WeightsFile).Size > 3 * (4 << 10), "the weights fit in one or two chunks");

            var reference = LocalReference.Run(Spec(), _dir["local"]);
            Assert.Equal(Steps, reference.Losses.Count);
            AssertSameFiles(_dir["local"], _dir["downloaded"]);

            // `qst export` of the final checkpoint (a step folder of the local store) exports the same side network.
            string finalStep = Path.Combine(Checkpoints, CheckpointStores.Prefix(JobId), $"{Steps:D12}");
            ExportCommand.Run(finalStep, null, _dir["tiny"], _dir["from-checkpoint"]);
            AssertSameFiles(_dir["local"], _dir["from-checkpoint"]);

            // The manifest's checksums are those of train-local's files (computed here, independently of the store).
            foreach (var file in result.Files)
                Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(_dir["local"], file.Name)))), file.Sha256);

            // Bad chunk requests are refused, saying what is allowed.
            var grain = second.Client.GetGrain<IJobResultGrain>(JobId);
            var tooBig = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => grain.ReadChunk(SideNetworkExport.WeightsFile, 0, IJobResultGrain.MaxChunkBytes + 1));
            Assert.Contains($"ask for 1 to {IJobResultGrain.MaxChunkBytes}", tooBig.Message);
            var noFile = await Assert.ThrowsAsync<ArgumentException>(() => grain.ReadChunk("nope.bin", 0, 16));
            Assert.Contains("has no file 'nope.bin'", noFile.Message);
            Assert.Empty(await grain.ReadChunk(SideNetworkExport.ConfigFile, result.Files.Single(f => f.Name == SideNetworkExport.ConfigFile).Size, 16));
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.DownloadResultAsync(JobId, _dir["zero"], chunkBytes: 0));

            var missing = await Assert.ThrowsAsync<InvalidOperationException>(() => client.DownloadResultAsync("no-such-job", _dir["none"]));
            Assert.Contains("'no-such-job' has no result", missing.Message);

            // `qst export --job` takes nothing but the job (and the connection): the cluster's export is the result.
            Assert.Equal(2, await ExportCommand.Create().Parse(["--job", JobId, finalStep, "--out", _dir["via-cli"]]).InvokeAsync());
            Assert.False(Directory.Exists(_dir["via-cli"]));
        }
        finally
        {
            await second.StopAllSilosAsync();
            await second.DisposeAsync();
        }
    }

    static void AssertSameFiles(string expectedFolder, string actualFolder)
    {
        foreach (var name in ExportFiles)
        {
            var expected = File.ReadAllBytes(Path.Combine(expectedFolder, name));
            var actual = File.ReadAllBytes(Path.Combine(actualFolder, name));
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{name} in {actualFolder} differs from train-local's ({actual.Length} vs {expected.Length} bytes)");
        }
    }

    public void Dispose() => _dir.Dispose();
}
