using System.Security.Cryptography;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Cli.Train;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Grains.Inputs;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Uploads;

/// <summary>
/// Issue 16, "inputs from where the client is": a 2-silo cluster whose silos may read data only under their own data root;
/// the client's data file lies outside it. <c>qst train</c>'s data step (<see cref="DataUpload"/>, auto) finds that the
/// cluster does not see the file, uploads it in chunks and names the job's data by store URI; the job's losses and its result
/// equal <c>train-local</c> on the same local file bitwise. Also: the same content twice is stored once, a bad chunk is refused
/// naming it, and an interrupted or refused upload leaves no visible dataset.
/// </summary>
public sealed class DatasetUploadTests(ITestOutputHelper output) : IDisposable
{
    const int Steps = 8;   // one epoch of 64 examples, 4 × 2 per step
    readonly TestDirectory _dir = new();

    string StoreFolder => Path.Combine(_dir.Path, "checkpoints", StoreUris.DatasetsFolder);

    static string Sha256Of(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));

    [Fact]
    public async Task DataOnlyTheClientSeesIsUploadedAndTrainsBitwiseLikeTrainLocal()
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 13);
        Directory.CreateDirectory(_dir["silo-data"]);
        string local = Path.Combine(_dir["client-only"], "my data.jsonl");
        Directory.CreateDirectory(_dir["client-only"]);
        SyntheticDatasets.WriteAlpacaJsonl(local, 64, seed: 17);
        string sha = Sha256Of(local);
        string cached = Path.Combine(StoredDatasets.CacheRoot, sha);
        if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);   // a run before this one left its copy: fetch again

        var cluster = QstTestSilo.Build(2, _dir.Path, durableState: false, dataRoots: _dir["silo-data"]);
        try
        {
            var client = new QstClient(cluster.Client);
            var spec = new JobSpec
            {
                ModelDirectory = _dir["tiny"], DataFile = local, Epochs = 1, MaxSteps = Steps, MicroBatchSize = 4,
                GradientAccumulation = 2, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 5, Window = 3, Stages = 2, CheckpointEverySteps = 2,
            };
            // The path itself is refused: the silos do not see it.
            var refused = await client.Grains.GetGrain<ITrainingJobGrain>("by-path").Start(spec);
            Assert.True(refused.State == JobState.Failed && refused.Message!.Contains("Qst:Roots:Data"), refused.Message);
            Assert.False(await client.ClusterSeesAsync(local));

            // A copy inside the silos' data root is seen (same path, size and SHA-256): auto sends the path, uploads nothing.
            string inside = Path.Combine(_dir["silo-data"], "seen.jsonl");
            File.Copy(local, inside);
            Assert.Equal(inside, await DataUpload.ResolveAsync(client, inside, "auto", CancellationToken.None));
            Assert.False(Directory.Exists(StoreFolder), "auto uploaded a file the cluster sees");

            // The CLI's data step: auto → not seen → uploaded (small chunks would need the client API; the default 4 MiB is one chunk here).
            string uri = await DataUpload.ResolveAsync(client, local, "auto", CancellationToken.None);
            Assert.Equal($"store:datasets/{sha}/my_data.jsonl", uri);
            string blob = Path.Combine(StoreFolder, sha, "my_data.jsonl");
            Assert.True(File.ReadAllBytes(local).AsSpan().SequenceEqual(File.ReadAllBytes(blob)), "the stored blob differs from the client's file");

            // The same content again: nothing sent, one copy.
            var again = await client.UploadDatasetAsync(local, "my_data.jsonl", chunkBytes: 1000);
            Assert.True(again.AlreadyStored);
            Assert.Equal(uri, again.Uri);
            Assert.Single(Directory.GetFiles(StoreFolder, "*", SearchOption.AllDirectories));

            // A URI the store does not hold: the job is refused naming it.
            string absent = $"store:datasets/{new string('0', 64)}/absent.jsonl";
            var missing = await client.Grains.GetGrain<ITrainingJobGrain>("absent").Start(spec with { DataFile = absent });
            Assert.True(missing.State == JobState.Failed && missing.Message!.Contains($"'{absent}' is not in the cluster's store"), missing.Message);

            var job = client.Grains.GetGrain<ITrainingJobGrain>("by-uri");
            var started = await job.Start(spec with { DataFile = uri });
            Assert.True(started.State == JobState.Running, started.Message);
            Assert.True(File.Exists(Path.Combine(cached, "my_data.jsonl")), "the planning silo keeps its copy keyed by the hash");

            // A rollback re-plans from the job's spec, which keeps the URI: with the silo's copy gone (as on a silo that never had
            // one) the recovery fetches the dataset again and resumes from the checkpoint.
            var before = await JobWait.Until(job, p => p.Step >= 3 && p.LastCheckpointStep >= 2, TimeSpan.FromMinutes(2));
            Assert.Equal(JobState.Running, before.State);
            Directory.Delete(cached, recursive: true);
            await job.ReportFault(before.Attempt, "test: forced rollback");
            var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
            Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
            Assert.True(Assert.Single(done.Recoveries).ResumedFromStep >= 2, "the recovery did not resume from a checkpoint");
            Assert.True(File.Exists(Path.Combine(cached, "my_data.jsonl")), "the recovery did not fetch the dataset again");

            var reference = LocalReference.Run(spec, _dir["local"]);
            var losses = await job.GetLosses(0);
            Assert.Equal(Steps, reference.Losses.Count);
            Assert.Equal(reference.Losses.Select(BitConverter.SingleToInt32Bits), losses.Select(BitConverter.SingleToInt32Bits));
            await client.DownloadResultAsync("by-uri", _dir["downloaded"]);
            foreach (var name in new[] { SideNetworkExport.WeightsFile, SideNetworkExport.ConfigFile })
                Assert.True(File.ReadAllBytes(Path.Combine(_dir["local"], name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(_dir["downloaded"], name))),
                    $"{name} of the job differs from train-local's");
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task ABadChunkIsRefusedNamingItAndNoPartialUploadBecomesVisible()
    {
        string file = _dir.Write("data.jsonl", string.Concat(Enumerable.Range(0, 200).Select(i => $"{{\"text\": \"line {i}\"}}\n")));
        var bytes = File.ReadAllBytes(file);
        string sha = Sha256Of(file);
        var cluster = QstTestSilo.Build(1, _dir.Path, durableState: false);
        try
        {
            var client = new QstClient(cluster.Client);
            string Chunk(int from, int count) => Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(from, count)));

            // A chunk whose checksum is wrong: refused naming it; the upload is gone (a later chunk or commit is refused too).
            var bad = client.Grains.GetGrain<IDatasetUploadGrain>("bad-chunk");
            Assert.False((await bad.Begin(new DatasetUploadRequest("data.jsonl", bytes.Length, sha))).AlreadyStored);
            await bad.Append(0, 0, bytes[..1000], Chunk(0, 1000));
            var damaged = bytes[1000..2000];
            damaged[7] ^= 0x20;
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => bad.Append(1, 1000, damaged, Chunk(1000, 1000)));
            output.WriteLine(refused.Message);
            Assert.Contains("chunk 1 (bytes 1000..2000)", refused.Message);
            Assert.Contains("SHA-256", refused.Message);
            var gone = await Assert.ThrowsAnyAsync<Exception>(() => bad.Commit());
            Assert.Contains("not in progress", gone.Message);

            // Out of order, and interrupted (begun, half sent, never committed): nothing visible.
            var skipping = client.Grains.GetGrain<IDatasetUploadGrain>("out-of-order");
            await skipping.Begin(new DatasetUploadRequest("data.jsonl", bytes.Length, sha));
            var order = await Assert.ThrowsAnyAsync<Exception>(() => skipping.Append(1, 1000, bytes[1000..2000], Chunk(1000, 1000)));
            Assert.Contains("expected chunk 0 at byte 0", order.Message);
            var interrupted = client.Grains.GetGrain<IDatasetUploadGrain>("interrupted");
            await interrupted.Begin(new DatasetUploadRequest("data.jsonl", bytes.Length, sha));
            await interrupted.Append(0, 0, bytes[..1000], Chunk(0, 1000));
            var early = await Assert.ThrowsAnyAsync<Exception>(() => interrupted.Commit());
            Assert.Contains($"received 1000 of {bytes.Length} bytes", early.Message);
            Assert.False(Directory.Exists(StoreFolder) && Directory.EnumerateFiles(StoreFolder, "*", SearchOption.AllDirectories).Any(),
                "a refused or unfinished upload left a dataset in the store");

            // A whole file that is not what was declared (each chunk fine, the declared hash another file's).
            var other = client.Grains.GetGrain<IDatasetUploadGrain>("wrong-file");
            await other.Begin(new DatasetUploadRequest("data.jsonl", bytes.Length, new string('0', 64)));
            await other.Append(0, 0, bytes, Chunk(0, bytes.Length));
            var mismatch = await Assert.ThrowsAnyAsync<Exception>(() => other.Commit());
            Assert.Contains("the whole file has SHA-256", mismatch.Message);

            // Over the silos' data cap (default 2 GiB): refused at Begin, naming the cap, before a byte is sent.
            var huge = await Assert.ThrowsAnyAsync<Exception>(() => client.Grains.GetGrain<IDatasetUploadGrain>("huge")
                .Begin(new DatasetUploadRequest("huge.jsonl", 3L << 30, sha)));
            Assert.Contains("Qst:Roots:MaxDataFileBytes", huge.Message);

            // Through the client in 1000-byte chunks: stored, bitwise the file. A malformed URI is refused naming it.
            var uploaded = await client.UploadDatasetAsync(file, chunkBytes: 1000);
            Assert.Equal($"store:datasets/{sha}/data.jsonl", uploaded.Uri);
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(StoreFolder, sha, "data.jsonl"))));
            Assert.Throws<ArgumentException>(() => StoreUris.ParseDataset("store:datasets/abc/data.jsonl"));
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    public void Dispose() => _dir.Dispose();
}
