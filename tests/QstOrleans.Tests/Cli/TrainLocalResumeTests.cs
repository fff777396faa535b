using QstOrleans.Cli.Cluster;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Cli.Train;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Jobs;
using QstOrleans.Storage.Blobs;
using QstOrleans.Storage.Checkpoints;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Cli;

/// <summary>
/// `qst train --local` interrupted after its first checkpoint (the in-process cluster is torn down, as when the user
/// kills the command), then the same command again on the same state directory: it finds the unfinished job by its
/// spec-derived id, resumes it from the checkpoint (not from scratch), and ends with the single-process trainer's
/// losses and side weights, bitwise.
/// </summary>
public sealed class TrainLocalResumeTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public async Task InterruptedLocalRunResumesFromItsCheckpointToTheSameResult()
    {
        using var dir = new TestDirectory();
        string state = dir["state"];
        var spec = new JobSpec
        {
            ModelDirectory = tiny.ModelDirectory, DataFile = tiny.DataFile, MaxSteps = 12, MicroBatchSize = 4, GradientAccumulation = 2,
            LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 21, Window = 3, CheckpointEverySteps = 2,
        };
        var reference = LocalReference.Run(spec, dir["local"]);
        var poll = TimeSpan.FromMilliseconds(50);

        // First run: interrupted as soon as a checkpoint manifest is on disk.
        using (var interrupt = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
        {
            var watcher = Task.Run(async () =>
            {
                string checkpoints = LocalCluster.CheckpointDirectory(state);
                while (!interrupt.IsCancellationRequested)
                {
                    if (Directory.Exists(checkpoints) && Directory.EnumerateFiles(checkpoints, "manifest.json", SearchOption.AllDirectories).Any())
                    {
                        interrupt.Cancel();
                        return;
                    }
                    await Task.Delay(20);
                }
            });
            int first = await TrainCommand.RunLocalAsync(spec, null, state, poll, plain: true, interrupt.Token);
            await watcher;
            Assert.Equal(130, first);
        }

        // Second run: the same command.
        string? jobId = null;
        JobProgress? final = null;
        IReadOnlyDictionary<string, TensorPayload>? weights = null;
        int second = await TrainCommand.RunLocalAsync(spec, null, state, poll, plain: true, CancellationToken.None, async (client, id) =>
        {
            Assert.StartsWith("local-", id);
            jobId = id;
            final = await client.StatusAsync(id);
            weights = await client.Grains.GetGrain<QstOrleans.Contracts.Grains.ISideTrainerGrain>(id).GetWeights();
        });

        Assert.Equal(0, second);
        Assert.NotNull(final);
        Assert.Equal(JobState.Completed, final!.State);
        Assert.Equal(12, final.Step);
        var recovery = Assert.Single(final.Recoveries);
        Assert.True(recovery.ResumedFromStep >= 2, $"resumed from step {recovery.ResumedFromStep}, not from a checkpoint");
        Assert.Equal(reference.Losses, final.Losses);
        LocalReference.AssertSameWeights(reference.Weights, weights!);

        // `qst checkpoints --local` reads the store directly. The interrupt asked for a checkpoint at the next step boundary
        // (RequestCheckpoint), and the cadence counts from the checkpoint a run resumes from: the second run commits r+2, r+4, …
        // and the last step (12, with the job's result); the newest 3 are kept.
        var store = new CheckpointStore(new LocalDirectoryBlobStore(LocalCluster.CheckpointDirectory(state)), CheckpointStores.Prefix(jobId!));
        var rows = await CheckpointListing.List(store);
        int from = recovery.ResumedFromStep;
        var expected = Enumerable.Range(1, 6).Select(k => (long)(from + 2 * k)).Where(s => s < 12).Append(12L).TakeLast(3).ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal(expected, rows.Select(r => r.Step).TakeLast(expected.Count));
        Assert.Equal(12, Assert.Single(rows, r => r.IsLatest).Step);
        Assert.Contains(CheckpointsCommand.Format(jobId!, rows), line => line.TrimStart().StartsWith("12 ") && line.Contains('*'));
    }

    [Theory]
    [InlineData("--checkpoint-every", "-1")]
    [InlineData("--checkpoint-minutes", "-2")]
    public void NegativeCheckpointIntervalsAreBadInput(string option, string value) =>
        Assert.Equal(2, (int)typeof(MakeModelCommand).Assembly.EntryPoint!.Invoke(null,
            [new[] { "train", "--local", "--model", tiny.ModelDirectory, "--data", tiny.DataFile, option, value }])!);
}
