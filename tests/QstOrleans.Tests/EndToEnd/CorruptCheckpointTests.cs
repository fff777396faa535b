using QstOrleans.Grains.Hosting;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// A corrupt latest checkpoint, end to end through a job on the process cluster: the job is paused, the weights blob
/// of its latest checkpoint in Azurite is truncated behind the store's back, and the silo hosting the side trainer is
/// killed. The recovery must skip the damaged checkpoint with a warning (logged by the job naming the step), resume
/// from the previous one, and still end bitwise equal to the uninterrupted run. (The store-level fallback cases
/// (truncated, flipped byte, missing blob, damaged pointer) are in Checkpoints/CheckpointStoreContractTests.)
/// </summary>
[Collection(FaultClusterCollection.Name)]
public sealed class CorruptCheckpointTests(FaultClusterFixture cluster, ITestOutputHelper log)
{
    const int Steps = 24, TrainSeed = 4;   // one epoch of the fixture's 96 examples: time to pause between checkpoints
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>The job's progress with its side trainer's and stages' own counters: what moves while work is in flight.</summary>
    sealed record Observation(JobProgress Job, long SideApplied, int SideSteps, long[] StagesProcessed)
    {
        public (JobState, int, int, long, int, string) Counters =>
            (Job.State, Job.Step, Job.LastCheckpointStep, SideApplied, SideSteps, string.Join(",", StagesProcessed));
    }

    static async Task<Observation> Observe(QstOrleans.Client.QstClient client, string jobId)
    {
        var job = await client.StatusAsync(jobId);
        var side = await client.Grains.GetGrain<ISideTrainerGrain>(jobId).GetStatus();
        var stages = await Task.WhenAll(job.Placement.Keys.Order().Select(k => client.Grains.GetGrain<IBackboneStageGrain>(k).GetStatus()));
        return new Observation(job, side.Applied, side.Steps, stages.Select(s => s.Processed).ToArray());
    }

    [Fact]
    public async Task ACorruptLatestCheckpointFallsBackToThePreviousOne()
    {
        string jobId = $"ft-corrupt-{Guid.NewGuid():N}"[..20];
        await using var client = await cluster.ConnectAsync();
        using var train = cluster.StartQst($"qst train {jobId}",
            [.. SoloRun.TrainArgs(cluster.ModelDirectory, cluster.DataFile, TrainSeed, Steps, stages: 2), "--job-id", jobId, "--checkpoint-every", "2"]);

        // Two checkpoints at least, then pause and wait until in-flight work (and any checkpoint it triggers) settled:
        // paused, and no counter of the job, its side trainer or its stages moves for 20 polls in a row.
        await Eventually.WaitUntil($"job {jobId} to commit the checkpoint of step 4", () => client.StatusOnceSubmitted(jobId),
            p => p.LastCheckpointStep >= 4, Timeout,
            abort: p => p.IsFinished || train.HasExited ? $"job {jobId} ended before two checkpoints:\n{train.Output}" : null);
        await client.PauseAsync(jobId);
        var settled = (await Eventually.WaitUntilSteady($"paused job {jobId} to stop", () => Observe(client, jobId),
            o => o.Counters, o => o.Job.State == JobState.Paused, polls: 20, Timeout, poll: TimeSpan.FromMilliseconds(100))).Job;
        Assert.True(settled.Step < Steps, $"the job finished before the pause took effect (step {settled.Step})");
        int latest = settled.LastCheckpointStep;

        // Truncate the latest checkpoint's weights blob (a torn write or bit rot; the store itself never overwrites).
        var blobs = await AzureBlobStore.ConnectAsync(cluster.AzuriteConnection, cluster.CheckpointContainer);
        string stepFolder = $"{CheckpointStores.Prefix(jobId)}/{latest:D12}/";
        var weights = (await blobs.ListAsync(stepFolder)).Single(b => b.Name.EndsWith("/side_model.safetensors", StringComparison.Ordinal));
        var bytes = (await blobs.GetBytesAsync(weights.Name))!.Value.Bytes;
        await blobs.PutBytesAsync(weights.Name, bytes[..(bytes.Length / 2)], BlobWriteCondition.Overwrite);
        var steps = (await blobs.ListAsync(CheckpointStores.Prefix(jobId) + "/")).Select(b => b.Name).Where(n => n.EndsWith("/manifest.json")).ToList();
        log.WriteLine($"paused at step {settled.Step}; checkpoints {string.Join(", ", steps)}; truncated {weights.Name} ({bytes.Length} -> {bytes.Length / 2} bytes)");

        string victim = settled.SideSilo!;
        log.WriteLine($"killing {victim}, host of the side trainer (job grain on {settled.JobSilo})");
        cluster.Kill(victim);
        // Resume is idempotent; a call that races the dying silo (it may host the job grain too) is lost, so repeat it
        // until the job says it is no longer paused.
        await Eventually.WaitUntil($"job {jobId} to leave Paused after the kill", async () =>
        {
            try
            {
                await client.ResumeAsync(jobId).WaitAsync(TimeSpan.FromSeconds(10));
                return (await client.StatusAsync(jobId).WaitAsync(TimeSpan.FromSeconds(10))).State;
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                return JobState.Paused;   // the call was lost with the silo: still to be resumed
            }
        }, state => state != JobState.Paused, TimeSpan.FromSeconds(90), poll: TimeSpan.FromMilliseconds(500));
        int code = await train.WaitForExit(TimeSpan.FromSeconds(150));
        Assert.True(code == 0, $"qst train exited with {code}:\n{train.Output}");
        try
        {
            var final = await client.StatusAsync(jobId);
            Assert.Equal((JobState.Completed, Steps), (final.State, final.Step));
            Assert.NotEmpty(final.Recoveries);
            var recovery = final.Recoveries[0];   // the first recovery after the kill met the damaged checkpoint
            log.WriteLine($"recovered from step {recovery.ResumedFromStep}: {recovery.Reason.Split('\n')[0]}");
            Assert.True(recovery.ResumedFromStep < latest, $"resumed from step {recovery.ResumedFromStep}, not from before the corrupt {latest}");
            string warning = $"checkpoint {latest} is unusable";
            Assert.True(FaultClusterFixture.SiloNames.Any(n => cluster.Silo(n).Output.Contains(warning, StringComparison.Ordinal)),
                $"no silo logged '{warning}'");

            var (losses, expected) = SoloRun.Train(cluster.ModelDirectory, cluster.DataFile, TrainSeed, Steps, cluster.Scratch($"solo-{Guid.NewGuid():N}"));
            Assert.Equal(losses, final.Losses);
            var distributed = await client.Grains.GetGrain<ISideTrainerGrain>(jobId).GetWeights();
            foreach (var (name, data) in expected)
                Assert.True(data.AsSpan().SequenceEqual(distributed[name].Data), $"weight '{name}' differs from the uninterrupted run");
        }
        finally
        {
            await cluster.Restart(victim);
        }
    }
}
