using System.Security.Cryptography;
using System.Text;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Grains.Inputs;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Uploads;

/// <summary>
/// Issue 16: uploads that resume and models by store URI, on in-process clusters. An upload cancelled after some chunks leaves
/// them on its silo; the same call again sends only the rest (counted by the client and by the bytes it offered) and stores
/// exactly the file. A model directory goes up the same way, file by file and resumable, then its manifest; a 2-silo job
/// naming only its <c>store:models/…</c> URI — the client's directory moved away — trains with losses bitwise equal to
/// <c>train-local</c> on the directory.
/// </summary>
public sealed class ResumableUploadTests(ITestOutputHelper output) : IDisposable
{
    readonly TestDirectory _dir = new();

    string Store(params string[] parts) => Path.Combine([_dir.Path, "checkpoints", .. parts]);

    static string Sha256Of(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Cancels its token once the cluster holds at least <paramref name="after"/> bytes; remembers the last report.</summary>
    sealed class CancelAfter(long after) : IProgress<long>
    {
        public CancellationTokenSource Source { get; } = new();
        public long Held { get; private set; }
        public int Reports { get; private set; }
        public void Report(long value)
        {
            (Held, Reports) = (value, Reports + 1);
            if (value >= after) Source.Cancel();
        }
    }

    [Fact]
    public async Task AnInterruptedDatasetUploadResumesWithTheRestOnly()
    {
        string file = _dir.Write("resume.jsonl", string.Concat(Enumerable.Range(0, 400).Select(i => $"{{\"text\": \"resumable line {i}\"}}\n")));
        var bytes = File.ReadAllBytes(file);
        var cluster = QstTestSilo.Build(1, _dir.Path, durableState: false);
        try
        {
            var client = new QstClient(cluster.Client);
            var cut = new CancelAfter(5000);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.UploadDatasetAsync(file, cancel: cut.Source.Token, chunkBytes: 1000, progress: cut));
            Assert.Equal(5000, cut.Held);
            Assert.False(Directory.Exists(Store("datasets")), "an interrupted upload became visible");

            var counted = new CancelAfter(long.MaxValue);
            var resumed = await client.UploadDatasetAsync(file, chunkBytes: 1000, progress: counted);
            output.WriteLine($"{resumed}");
            Assert.Equal((5000L, bytes.Length - 5000L, false), (resumed.ResumedAtByte, resumed.SentBytes, resumed.AlreadyStored));
            Assert.Equal((bytes.Length - 5000 + 999) / 1000, counted.Reports);   // only the remaining chunks went out
            string sha = Sha256Of(bytes);
            Assert.Equal($"store:datasets/{sha}/resume.jsonl", resumed.Uri);
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Store("datasets", sha, "resume.jsonl"))), "the resumed upload stored other bytes");

            // Resuming a file that changed meanwhile is another request (another SHA-256): it starts from byte 0 and stores the new content.
            File.AppendAllText(file, "{\"text\": \"one more\"}\n");
            var changed = await client.UploadDatasetAsync(file, chunkBytes: 1000);
            Assert.Equal((0L, new FileInfo(file).Length), (changed.ResumedAtByte, changed.SentBytes));
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task AModelOnlyTheStoreHoldsTrainsOnTwoSilosBitwiseLikeTrainLocal()
    {
        string model = _dir["tiny"], data = Path.Combine(_dir.Path, "data.jsonl");
        MakeModelCommand.Run("tiny", model, seed: 21);
        SyntheticDatasets.WriteAlpacaJsonl(data, 32, seed: 22);
        // The manifest computed here, independently of the client: "{sha256} {size} {name}\n" per file, sorted by name.
        var files = Directory.GetFiles(model).Select(f => new FileInfo(f)).OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        string manifest = string.Concat(files.Select(f => $"{Sha256Of(File.ReadAllBytes(f.FullName))} {f.Length} {f.Name}\n"));
        string sha = Sha256Of(Encoding.UTF8.GetBytes(manifest));
        string cached = Path.Combine(StoredModels.CacheRoot, sha);
        if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);   // a run before this one left its copy: fetch again
        long total = files.Sum(f => f.Length);

        var cluster = QstTestSilo.Build(2, _dir.Path, durableState: false);
        try
        {
            var client = new QstClient(cluster.Client);
            // A manifest whose files are not stored is refused, naming the first missing file; nothing becomes a model.
            var early = client.Grains.GetGrain<IDatasetUploadGrain>("early-manifest");
            var manifestBytes = Encoding.UTF8.GetBytes(manifest);
            await early.Begin(new DatasetUploadRequest(ModelManifest.FileName, manifestBytes.Length, sha, sha));
            await early.Append(0, 0, manifestBytes, sha);
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => early.Commit());
            Assert.Contains($"its file '{files[0].Name}' is not in the store", refused.Message);

            // Interrupted half-way, then resumed: the second call sends only what the cluster did not hold.
            var cut = new CancelAfter(total / 2);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.UploadModelAsync(model, cut.Source.Token, chunkBytes: 64 << 10, progress: cut));
            Assert.False(File.Exists(Store("models", sha, ModelManifest.FileName)), "an interrupted model upload became visible");
            var upload = await client.UploadModelAsync(model, chunkBytes: 64 << 10);
            output.WriteLine($"{upload}; interrupted at {cut.Held} of {total}");
            Assert.Equal($"store:models/{sha}", upload.Uri);
            Assert.Equal((files.Count, total, total - cut.Held, false), (upload.Files, upload.Size, upload.SentBytes, upload.AlreadyStored));
            foreach (var f in files)
                Assert.True(File.ReadAllBytes(f.FullName).AsSpan().SequenceEqual(File.ReadAllBytes(Store("models", sha, f.Name))), $"stored {f.Name} differs");
            var again = await client.UploadModelAsync(model);
            Assert.Equal((true, 0L, upload.Uri), (again.AlreadyStored, again.SentBytes, again.Uri));

            // The client's directory is gone: only the store has the model.
            string moved = model + "-moved";
            Directory.Move(model, moved);
            var spec = new JobSpec
            {
                ModelDirectory = upload.Uri, DataFile = data, Epochs = 1, MaxSteps = 4, MicroBatchSize = 4, GradientAccumulation = 1,
                LearningRate = 1e-2, Seed = 23, Window = 3, Stages = 2,
            };
            var job = client.Grains.GetGrain<ITrainingJobGrain>("store-model");
            var started = await job.Start(spec);
            Assert.True(started.State == JobState.Running, started.Message);
            var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
            Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
            Assert.Equal(2, done.Placement.Values.Select(p => p.Split('/')[0]).Distinct().Count());   // both silos loaded a stage
            Assert.True(File.Exists(Path.Combine(cached, ModelManifest.FileName)), "no silo-local copy of the model");

            var reference = LocalReference.Run(spec with { ModelDirectory = moved }, _dir["local"]);
            Assert.Equal(reference.Losses.Select(BitConverter.SingleToInt32Bits), (await job.GetLosses(0)).Select(BitConverter.SingleToInt32Bits));

            // An unknown model URI is refused naming it.
            string absent = $"store:models/{new string('0', 64)}";
            var missing = await client.Grains.GetGrain<ITrainingJobGrain>("absent-model").Start(spec with { ModelDirectory = absent });
            Assert.True(missing.State == JobState.Failed && missing.Message!.Contains($"'{absent}' is not in the cluster's store"), missing.Message);
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    public void Dispose() => _dir.Dispose();
}
