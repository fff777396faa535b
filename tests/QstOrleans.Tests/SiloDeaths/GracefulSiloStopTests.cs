using System.Diagnostics;
using Orleans.TestingHost;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.SiloDeaths;

/// <summary>
/// Stops gracefully (what SIGTERM does) the silo that holds a job's grain, its side trainer and its last stage, mid-run: with
/// micro-batches in flight, or paused (as <c>RollingRestartTests</c> does) while a client watches the job. The stop must end
/// well inside Orleans' 30 s timeouts, which it used to run into (31.4, 30.5 and 31.0 s per silo in <c>RollingRestartTests</c>):
/// disposing a deactivated grain waits up to the 30 s response timeout for a watch's pending long poll, which on a paused job
/// waited for an event that never came; and a grain deactivates only once no call of it runs, while calls could wait on grains
/// of the same stopping silo (a stage's Submit on its full queue, its sends, the side trainer's calls to the stage). The job
/// must then complete elsewhere, from its checkpoint, with the losses and side weights of the uninterrupted single-process
/// run: the stop loses and repeats no step.
/// </summary>
public sealed class GracefulSiloStopTests(ITestOutputHelper output) : IDisposable
{
    // 16 steps = one epoch of 128 records (micro-batches of 4, accumulation 2); the stop lands in the first third.
    const int Steps = 16, Accumulation = 2, Records = 128;
    /// <summary>A regression guard against the 30 s hang, not a timing benchmark. Measured on the shared 2-core box (load ≈ 50):
    /// paused and watched 30.6 s before the fix (the test failed), 0.5 s after; running 0.8 s before and 0.1–4.0 s after (the
    /// in-process cluster does not show a running job's wait; the fix covers it by construction).</summary>
    static readonly TimeSpan StopBound = TimeSpan.FromSeconds(15);
    readonly TestDirectory _dir = new();

    JobSpec Spec() => new()
    {
        ModelDirectory = _dir["tiny"], DataFile = _dir["data.jsonl"], MaxSteps = Steps, MicroBatchSize = 4,
        GradientAccumulation = Accumulation, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 3, Window = 3, Stages = 2,
        CheckpointEverySteps = 2,
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StoppingTheSiloOfARunningJobsGrainsIsQuickAndTheJobEndsWithTheUninterruptedLosses(bool pausedAndWatched)
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 13);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["data.jsonl"], Records, seed: 13);
        var reference = LocalReference.Run(Spec(), _dir["local"]);
        // Two slots per silo: the side trainer lands beside the job's last stage, so one silo holds both.
        var cluster = QstTestSilo.Build(3, _dir.Path, durableState: true, slotsPerSilo: 2);
        try
        {
            var (jobId, job, victim, held) = await StartOnASecondary(cluster);
            var before = await JobWait.Until(job, p => p.Step >= 3 && p.LastCheckpointStep >= 2, TimeSpan.FromMinutes(2));
            Assert.True(before.State == JobState.Running, $"{before.State}: {before.Message}");
            Task watching = Task.CompletedTask;
            if (pausedAndWatched)
            {
                await job.Pause();
                // A watcher waiting for the next event of a paused job: its long poll is pending on the job grain when the silo stops.
                watching = Task.Run(async () => { await foreach (var _ in job.Watch(before.Step, before.Recoveries.Count)) { } });
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
            var clock = Stopwatch.StartNew();
            await cluster.StopSiloAsync(victim);
            var stopped = clock.Elapsed;
            if (pausedAndWatched)
            {
                await Task.WhenAny(watching, Task.Delay(TimeSpan.FromSeconds(5)));   // the watch ends when its silo stops (an error: watch again)
                await Eventually.Retry(async () => { await job.Resume(); return true; });
            }
            output.WriteLine($"job {jobId} at step {before.Step}: silo {victim.Name} (holding {held}) stopped in {stopped.TotalSeconds:F1} s");
            Assert.True(stopped < StopBound, $"stopping silo {victim.Name} (holding {held}) took {stopped.TotalSeconds:F1} s");

            var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
            foreach (var r in done.Recoveries) output.WriteLine($"recovery {r.Attempt}: {r.Reason}; resumed from step {r.ResumedFromStep}");
            Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
            Assert.Equal(Steps, done.Step);
            Assert.Equal(reference.Losses, done.Losses);
            Assert.NotEqual(victim.Name, done.SideSilo);
            Assert.DoesNotContain(done.Placement.Values, slot => slot.StartsWith(victim.Name + "/", StringComparison.Ordinal));
            LocalReference.AssertSameWeights(reference.Weights, await cluster.Client.GetGrain<ISideTrainerGrain>(jobId).GetWeights());
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    /// <summary>Starts jobs until the job grain, the side trainer and a stage share a secondary silo (the primary holds the test cluster's
    /// membership and is never stopped); returns that job, the silo and what it holds.</summary>
    async Task<(string JobId, ITrainingJobGrain Job, SiloHandle Victim, string Held)> StartOnASecondary(TestCluster cluster)
    {
        for (int i = 0; ; i++)
        {
            string jobId = $"graceful-stop-{i}";
            var job = cluster.Client.GetGrain<ITrainingJobGrain>(jobId);
            var started = await job.Start(Spec());
            Assert.True(started.State == JobState.Running, started.Message);
            var stages = started.Placement.Values.Where(slot => slot.StartsWith(started.SideSilo + "/", StringComparison.Ordinal)).ToList();
            var victim = cluster.SecondarySilos.FirstOrDefault(s => s.Name == started.SideSilo);
            if (victim is not null && stages.Count > 0 && started.JobSilo == victim.Name)
                return (jobId, job, victim, $"the job grain, the side trainer, stage(s) on {string.Join(", ", stages)}");
            Assert.True(i < 30, $"the job grain, side trainer and a stage never shared a secondary silo in {i + 1} jobs");
            await job.Cancel();
        }
    }

    public void Dispose() => _dir.Dispose();
}
