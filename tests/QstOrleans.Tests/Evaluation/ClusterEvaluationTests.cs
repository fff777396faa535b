using QstOrleans.Client;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Evaluation;

/// <summary>
/// A cluster job with full taps over 2 stages, <c>evaluation.val_fraction</c> held out of its training file, MMLU-style
/// questions and <c>evaluation.every_steps</c> = 1: its losses, grad norms and every step's validation loss, perplexity and
/// accuracy equal <c>train-local</c>'s for the same config, bitwise (the side trainer evaluates through forward-only stage
/// passes; train-local through its own model). (The lean-taps path, an evaluation that leaves training bitwise unchanged and
/// the result after a restart: <c>Results/EvaluatedResultTests</c>.)
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterEvaluationTests(ClusterFixture cluster)
{
    const int Steps = 3;

    [Fact]
    public async Task AFullTapsJobEvaluatesEveryStepLikeTrainLocal()
    {
        string mmlu = cluster.Scratch($"mmlu-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(mmlu, ClusterEvaluationReference.Questions);
        var spec = new JobSpec
        {
            ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, Epochs = 1, MaxSteps = Steps, MicroBatchSize = 4,
            GradientAccumulation = 2, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 7, Window = 3, Stages = 2, Taps = "full",
            MmluFile = mmlu,
        };
        spec = spec with { Config = spec.Config with { Evaluation = new() { EverySteps = 1, ValFraction = 0.1 } } };
        var reference = ClusterEvaluationReference.TrainLocal(spec, null);
        Assert.All(reference, r => Assert.NotNull(r.Evaluation?.ValidationLoss));

        string jobId = $"cluster-eval-{Guid.NewGuid():N}";
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>(jobId);
        var started = await job.Start(spec);
        Assert.True(started.State == JobState.Running, started.Message);
        // Followed as `qst train` follows it: each snapshot's grad norm and evaluation are those of its own step.
        var client = new QstClient(cluster.Cluster.Client);
        var followed = new List<JobProgress>();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3)))
            await foreach (var p in client.FollowAsync(jobId, TimeSpan.FromMilliseconds(100), timeout.Token)) followed.Add(p);
        var done = followed[^1];
        Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
        foreach (var p in followed.Where(p => p.Step > 0))
        {
            if (p.GradNorm is { } norm) Assert.Equal(reference[p.Step - 1].GradNorm, norm);
            if (p.Evaluation is { } e) Assert.Equal(reference[e.Step - 1].Evaluation!.ValidationLoss, e.ValidationLoss);
        }

        // The same held-out split: the training losses match only if the job trained on the same examples.
        Assert.Equal(reference.Select(r => r.Loss), done.Losses);
        var events = await ClusterEvaluationReference.StepEvents(client, jobId);
        ClusterEvaluationReference.AssertSameMetrics(reference, events);
        Assert.Equal(Steps, done.Evaluation?.Step);
        Assert.Equal(reference[^1].GradNorm, done.GradNorm);
        await cluster.Grains.GetGrain<ISideTrainerGrain>(jobId).Shutdown();
    }

    [Fact]
    public async Task AnEvaluationOptionWithoutASetIsRefusedAtSubmission()
    {
        var spec = new JobSpec { ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = 1, Stages = 1 };
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>($"cluster-eval-bad-{Guid.NewGuid():N}");
        var refused = await job.Start(spec with { Config = spec.Config with { Evaluation = new() { EverySteps = 2 } } });
        Assert.Equal(JobState.Failed, refused.State);
        Assert.Contains("--eval-every needs something to evaluate", refused.Message);

        var missing = await cluster.Grains.GetGrain<ITrainingJobGrain>($"cluster-eval-bad-{Guid.NewGuid():N}")
            .Start(spec with { ValidationFile = cluster.Scratch("no-such-val.jsonl") });
        Assert.Equal(JobState.Failed, missing.State);
        Assert.Contains("no-such-val.jsonl", missing.Message);
    }
}
