using Orleans.TestingHost;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Distributed;

/// <summary>
/// Hard-kills (no graceful shutdown) the silo hosting a backbone stage, the side trainer, or the job grain at a random
/// step, each in a cluster of its own (killing breaks a cluster for other tests). The job recovers from its latest
/// checkpoint and completes with the exact step count, one loss per step and side weights bitwise equal to the
/// single-process trainer. The primary silo (which hosts the test cluster's membership table) is never killed: when
/// the grain to kill lands there, the test cancels that job and starts another id.
/// </summary>
public sealed class SiloKillTests(ITestOutputHelper output) : IDisposable
{
    // 16 steps = one epoch of 128 records (32 micro-batches of 4, accumulation 2); the kill lands in the first third so
    // the job is still running when the poll sees the kill step, however quiet the box.
    const int Steps = 16, Accumulation = 2, Records = 128;
    readonly TestDirectory _dir = new();

    public enum Target { Stage, SideTrainer, JobGrain }

    JobSpec Spec() => new()
    {
        ModelDirectory = _dir["tiny"], DataFile = _dir["data.jsonl"], MaxSteps = Steps, MicroBatchSize = 4,
        GradientAccumulation = Accumulation, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 3, Window = 3, Stages = 2,
        CheckpointEverySteps = 2,
    };

    [Theory]
    [InlineData(Target.Stage)]
    [InlineData(Target.SideTrainer)]
    [InlineData(Target.JobGrain)]
    public async Task JobSurvivesTheDeathOfASilo(Target target)
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 13);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["data.jsonl"], Records, seed: 13);
        var reference = LocalReference.Run(Spec(), _dir["local"]);
        var cluster = QstTestSilo.Build(3, _dir.Path, durableState: true);
        try
        {
            int killStep = new Random((int)target + 17).Next(3, Steps / 3 + 1);
            output.WriteLine($"{target}: kill at step >= {killStep}");
            var (jobId, job, victim) = await StartWithVictimOffPrimary(cluster, target);
            output.WriteLine($"job {jobId}: killing silo {victim.Name}");
            var before = await JobWait.Until(job, p => p.Step >= killStep && p.LastCheckpointStep >= 2, TimeSpan.FromMinutes(2));
            Assert.True(before.State == JobState.Running, $"{before.State}: {before.Message}");
            var killedAt = DateTimeOffset.UtcNow;
            await cluster.KillSiloAsync(victim);

            var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
            foreach (var r in done.Recoveries)
                output.WriteLine($"recovery {r.Attempt}: {r.Reason}; detected {(r.DetectedAt - killedAt).TotalSeconds:F2} s after the kill, " +
                                 $"resumed from step {r.ResumedFromStep}, first step {r.SecondsToFirstStep:F2} s after detection");
            Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
            Assert.Equal(Steps, done.Step);
            Assert.NotEmpty(done.Recoveries);
            Assert.Equal(reference.Losses, done.Losses);
            Assert.NotEqual(victim.Name, done.JobSilo);
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

    /// <summary>Starts jobs until the grain to kill sits on a secondary silo without the job's other grains (so one
    /// component dies at a time); returns that job and silo.</summary>
    async Task<(string JobId, ITrainingJobGrain Job, SiloHandle Victim)> StartWithVictimOffPrimary(TestCluster cluster, Target target)
    {
        for (int i = 0; ; i++)
        {
            string jobId = $"kill-{target}-{i}".ToLowerInvariant();
            var job = cluster.Client.GetGrain<ITrainingJobGrain>(jobId);
            var started = await job.Start(Spec());
            Assert.True(started.State == JobState.Running, started.Message);
            string? silo = target switch
            {
                // Stage 2 of 2: its slot is "{silo}/cpu:0".
                Target.Stage => started.Placement.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                    .Select(kv => kv.Value.Split('/')[0]).FirstOrDefault(s => s != cluster.Primary.Name),
                Target.SideTrainer => started.SideSilo,
                _ => started.JobSilo,
            };
            var victim = cluster.Silos.FirstOrDefault(s => s.Name == silo);
            bool alone = target switch
            {
                Target.Stage => silo != started.JobSilo && silo != started.SideSilo,
                Target.SideTrainer => silo != started.JobSilo,
                _ => silo != started.SideSilo,
            };
            if (victim is not null && victim != cluster.Primary && alone) return (jobId, job, victim);
            Assert.True(i < 15, $"the {target} never landed alone on a secondary silo in {i + 1} jobs");
            await job.Cancel();
        }
    }

    public void Dispose() => _dir.Dispose();
}
