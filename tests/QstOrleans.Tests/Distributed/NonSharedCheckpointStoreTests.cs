using System.Text.RegularExpressions;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Cli.Shared;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Distributed;

/// <summary>
/// A cluster whose silos each keep checkpoints in their own directory (a multi-host cluster without a shared store).
/// Killing the side trainer's silo after checkpoints were committed re-activates the side trainer on a silo whose store
/// holds none of them. The job must fail with a message naming that store and the checkpoint step the job recorded,
/// never restart from step 0 (which it did silently before: 60 steps lost in the 2-host run of issue 13).
/// </summary>
public sealed class NonSharedCheckpointStoreTests(ITestOutputHelper output) : IDisposable
{
    const int Steps = 16, Records = 128;
    readonly TestDirectory _dir = new();

    JobSpec Spec() => new()
    {
        ModelDirectory = _dir["tiny"], DataFile = _dir["data.jsonl"], MaxSteps = Steps, MicroBatchSize = 4,
        GradientAccumulation = 2, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 3, Window = 3, Stages = 2,
        CheckpointEverySteps = 2,
    };

    [Fact]
    public async Task LosingTheSideTrainersHostFailsTheJobInsteadOfRestartingFromStepZero()
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 13);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["data.jsonl"], Records, seed: 13);
        var cluster = QstTestSilo.Build(3, _dir.Path, durableState: true, perSiloCheckpoints: true);
        try
        {
            // The side trainer on a secondary silo (the primary hosts the test cluster's membership) without the job grain.
            string jobId = "";
            ITrainingJobGrain? job = null;
            JobProgress started = null!;
            for (int i = 0; job is null; i++)
            {
                Assert.True(i < 15, "the side trainer never landed alone on a secondary silo");
                jobId = $"nonshared-{i}";
                var candidate = cluster.Client.GetGrain<ITrainingJobGrain>(jobId);
                started = await candidate.Start(Spec());
                Assert.True(started.State == JobState.Running, started.Message);
                if (started.SideSilo != cluster.Primary.Name && started.SideSilo != started.JobSilo) job = candidate;
                else await candidate.Cancel();
            }
            var victim = cluster.Silos.Single(s => s.Name == started.SideSilo);
            var before = await JobWait.Until(job!, p => p.LastCheckpointStep >= 2, TimeSpan.FromMinutes(2));
            Assert.True(before.State == JobState.Running, $"{before.State}: {before.Message}");
            output.WriteLine($"job {jobId}: step {before.Step}, checkpoint {before.LastCheckpointStep}; killing {victim.Name} (side trainer)");
            await cluster.KillSiloAsync(victim);

            var done = await JobWait.UntilFinished(job!, TimeSpan.FromMinutes(3));
            output.WriteLine($"{done.State} at step {done.Step}: {done.Message}");
            Assert.True(done.State == JobState.Failed, $"expected Failed, got {done.State} at step {done.Step}: {done.Message}");
            var match = Regex.Match(done.Message ?? "",
                $@"checkpoint store (\S+) \(seen from silo (\S+)\) holds no checkpoint of job '{jobId}', but the job committed checkpoint (\d+)");
            Assert.True(match.Success, $"the failure does not name the store and the step: {done.Message}");
            Assert.StartsWith(Path.Combine(_dir.Path, "checkpoints"), match.Groups[1].Value);
            Assert.NotEqual(victim.Name, match.Groups[2].Value);
            Assert.True(long.Parse(match.Groups[3].Value) >= before.LastCheckpointStep,
                $"the expected step {match.Groups[3].Value} is older than the checkpoint {before.LastCheckpointStep} seen before the kill");
            Assert.True(done.Step >= before.Step, $"the job went back from step {before.Step} to {done.Step}");
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    public void Dispose() => _dir.Dispose();
}
