using Microsoft.Extensions.DependencyInjection;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Datasets.Cache;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.DataScale;

/// <summary>
/// A cluster job whose job-grain silo is hard-killed after the token cache exists: the data file is tokenized once in
/// the whole run, by the first plan; every other silo that planned the job read the cache, and the recovering silo
/// reads it too and tokenizes nothing. Before the kill every silo forgets its cached plans (<c>JobPlanner.ForgetPlans</c>),
/// so the recovering silo must plan again: the token cache's hits grow across the recovery while its builds stay at
/// one. Counted per data file by <see cref="TokenCache.CountsOf"/> (process-wide, so every in-process silo is seen; the
/// file is this test's own, so parallel tests cannot move the counts).
/// </summary>
public sealed class ClusterRecoveryTokenCacheTests(ITestOutputHelper output) : IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    JobSpec Spec() => new()
    {
        ModelDirectory = _dir["tiny"], DataFile = _dir["data.jsonl"], MaxSteps = 16, MicroBatchSize = 4, GradientAccumulation = 2,
        LearningRate = 1e-2, Seed = 5, Window = 3, Stages = 2, CheckpointEverySteps = 2,
    };

    [Fact]
    public async Task ARecoveredJobReadsTheTokenCacheAndTokenizesNothing()
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 17);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["data.jsonl"], 128, seed: 17);
        var cluster = QstTestSilo.Build(3, _dir.Path, durableState: true);
        try
        {
            // The job grain must sit on a secondary silo (the primary holds the membership table and is never killed).
            ITrainingJobGrain? job = null;
            Orleans.TestingHost.SiloHandle? victim = null;
            for (int i = 0; victim is null; i++)
            {
                Assert.True(i < 15, "the job grain never landed on a secondary silo");
                job = cluster.Client.GetGrain<ITrainingJobGrain>($"token-cache-recovery-{i}");
                var started = await job.Start(Spec());
                Assert.True(started.State == JobState.Running, started.Message);
                victim = cluster.Silos.FirstOrDefault(s => s.Name == started.JobSilo && s != cluster.Primary && s.Name != started.SideSilo);
                if (victim is null) await job.Cancel();
            }
            var before = await JobWait.Until(job!, p => p.Step >= 3 && p.LastCheckpointStep >= 2, TimeSpan.FromMinutes(3));
            Assert.True(before.State == JobState.Running, $"{before.State}: {before.Message}");
            Assert.Single(Directory.GetFiles(_dir[".qst-tokens"]));
            var planned = TokenCache.CountsOf(_dir["data.jsonl"]);
            output.WriteLine($"before the kill: {planned}");
            Assert.Equal(1, planned.Builds);                                     // the first plan tokenized the file, once

            foreach (var silo in cluster.Silos.OfType<Orleans.TestingHost.InProcessSiloHandle>())
                silo.ServiceProvider.GetRequiredService<QstOrleans.Grains.Jobs.Planning.JobPlanner>().ForgetPlans();
            await cluster.KillSiloAsync(victim);
            var done = await JobWait.UntilFinished(job!, TimeSpan.FromMinutes(4));
            Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
            Assert.NotEmpty(done.Recoveries);
            Assert.Equal(16, done.Step);
            var after = TokenCache.CountsOf(_dir["data.jsonl"]);
            output.WriteLine($"after the recovery: {after}");
            Assert.Equal(1, after.Builds);                                       // nothing tokenized again
            Assert.True(after.Hits > planned.Hits, $"the recovery did not read the token cache ({planned} -> {after})");
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }
}
