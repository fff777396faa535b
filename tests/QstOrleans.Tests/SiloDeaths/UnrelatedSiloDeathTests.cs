using Orleans.TestingHost;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.SiloDeaths;

/// <summary>
/// Hard-kills a silo that holds no part of a running job (not its job grain, side trainer or any stage; it may hold
/// Orleans grain-directory entries of them): the job must not recover (attempt 0, no recovery record) and must end with
/// the single-process trainer's losses. Issue 15 saw such a kill cause a recovery and a second activation of a stage on
/// one slot on a real 3-silo Redis cluster.
/// </summary>
public sealed class UnrelatedSiloDeathTests(ITestOutputHelper output) : IDisposable
{
    const int Steps = 12, Accumulation = 2, Records = 96;
    readonly TestDirectory _dir = new();

    JobSpec Spec() => new()
    {
        ModelDirectory = _dir["tiny"], DataFile = _dir["data.jsonl"], MaxSteps = Steps, MicroBatchSize = 4,
        GradientAccumulation = Accumulation, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 3, Window = 3, Stages = 1,
        CheckpointEverySteps = 2,
    };

    [Fact]
    public async Task KillingASiloThatHoldsNoPartOfTheJobCausesNoRecovery()
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 13);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["data.jsonl"], Records, seed: 13);
        var reference = LocalReference.Run(Spec(), _dir["local"]);
        var cluster = QstTestSilo.Build(4, _dir.Path, durableState: true);
        try
        {
            var (jobId, job, victim) = await StartWithAFreeSecondary(cluster);
            await JobWait.Until(job, p => p.Step >= 3, TimeSpan.FromMinutes(2));
            output.WriteLine($"job {jobId}: killing silo {victim.Name}, which holds none of its grains");
            await cluster.KillSiloAsync(victim);

            var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
            foreach (var r in done.Recoveries) output.WriteLine($"recovery {r.Attempt}: {r.Reason}");
            Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
            Assert.Empty(done.Recoveries);
            Assert.Equal(0, done.Attempt);
            Assert.Equal(reference.Losses, done.Losses);
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    /// <summary>Starts a job and returns a secondary silo that hosts none of its grains (4 silos, 3 grains: there always is one).</summary>
    async Task<(string JobId, ITrainingJobGrain Job, SiloHandle Victim)> StartWithAFreeSecondary(TestCluster cluster)
    {
        const string jobId = "unrelated-death";
        var job = cluster.Client.GetGrain<ITrainingJobGrain>(jobId);
        var started = await job.Start(Spec());
        Assert.True(started.State == JobState.Running, started.Message);
        var used = started.Placement.Values.Select(slot => slot.Split('/')[0]).Append(started.JobSilo).Append(started.SideSilo).ToHashSet();
        var victim = cluster.SecondarySilos.FirstOrDefault(s => !used.Contains(s.Name));
        Assert.True(victim is not null, $"every secondary silo holds part of the job: {string.Join(", ", used)}");
        return (jobId, job, victim);
    }

    public void Dispose() => _dir.Dispose();
}
