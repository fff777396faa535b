using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Grains.Inputs;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Uploads;

/// <summary>
/// A job whose model and data exist only in the cluster's store (uploaded, the client's copies moved away) survives the hard
/// kill of a silo hosting one of its stages: with the silos' cached copies deleted first, the recovery fetches both again from
/// the store, resumes from the latest checkpoint and completes with losses and side weights bitwise equal to
/// <c>train-local</c> on the original files.
/// </summary>
public sealed class StoreInputsSiloKillTests(ITestOutputHelper output) : IDisposable
{
    const int Steps = 16;
    readonly TestDirectory _dir = new();

    [Fact]
    public async Task AJobReadingUploadedInputsSurvivesASiloKill()
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 31);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["data.jsonl"], 128, seed: 31);
        var cluster = QstTestSilo.Build(3, _dir.Path, durableState: true);
        try
        {
            var client = new QstClient(cluster.Client);
            var model = await client.UploadModelAsync(_dir["tiny"]);
            var data = await client.UploadDatasetAsync(_dir["data.jsonl"]);
            string modelCopy = Path.Combine(StoredModels.CacheRoot, model.Uri.Split('/')[^1]);
            string dataCopy = Path.Combine(StoredDatasets.CacheRoot, data.Sha256);
            Directory.Move(_dir["tiny"], _dir["tiny-moved"]);
            File.Move(_dir["data.jsonl"], _dir["data-moved.jsonl"]);
            var spec = new JobSpec
            {
                ModelDirectory = model.Uri, DataFile = data.Uri, MaxSteps = Steps, MicroBatchSize = 4, GradientAccumulation = 2,
                LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 3, Window = 3, Stages = 2, CheckpointEverySteps = 2,
            };
            var job = client.Grains.GetGrain<ITrainingJobGrain>("store-inputs-kill");
            var started = await job.Start(spec);
            Assert.True(started.State == JobState.Running, started.Message);
            // Two stages on one-slot silos: at least one runs on a secondary silo (the primary holds the test membership table).
            string victimName = started.Placement.Values.Select(slot => slot.Split('/')[0]).First(s => s != cluster.Primary.Name);
            var victim = cluster.Silos.Single(s => s.Name == victimName);

            var before = await JobWait.Until(job, p => p.Step >= 4 && p.LastCheckpointStep >= 2, TimeSpan.FromMinutes(2));
            Assert.True(before.State == JobState.Running, $"{before.State}: {before.Message}");
            Directory.Delete(modelCopy, recursive: true);   // as on silos that never had a copy
            Directory.Delete(dataCopy, recursive: true);
            output.WriteLine($"killing silo {victimName} at step {before.Step}");
            await cluster.KillSiloAsync(victim);

            var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
            Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
            Assert.Equal(Steps, done.Step);
            Assert.NotEmpty(done.Recoveries);
            Assert.DoesNotContain(done.Placement.Values, slot => slot.StartsWith(victimName + "/", StringComparison.Ordinal));
            Assert.True(File.Exists(Path.Combine(modelCopy, ModelManifest.FileName)), "the recovery did not fetch the model again");
            Assert.True(Directory.EnumerateFiles(dataCopy).Any(), "the recovery did not fetch the dataset again");

            var reference = LocalReference.Run(spec with { ModelDirectory = _dir["tiny-moved"], DataFile = _dir["data-moved.jsonl"] }, _dir["local"]);
            Assert.Equal(reference.Losses.Select(BitConverter.SingleToInt32Bits), done.Losses.Select(BitConverter.SingleToInt32Bits));
            LocalReference.AssertSameWeights(reference.Weights, await cluster.Client.GetGrain<ISideTrainerGrain>("store-inputs-kill").GetWeights());
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    public void Dispose() => _dir.Dispose();
}
