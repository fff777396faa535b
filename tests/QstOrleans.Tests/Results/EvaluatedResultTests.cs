using QstOrleans.Cli.Evaluate;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Distributed;
using QstOrleans.Tests.Evaluation;

namespace QstOrleans.Tests.Results;

/// <summary>
/// Issue 16's end-to-end test with evaluation: a 2-silo cluster job (2 stages, lean taps) with <c>--val-data</c>,
/// <c>--mmlu</c> and <c>--eval-every 2</c> completes; its losses are bitwise those of <c>train-local</c> without any
/// evaluation (evaluating changes nothing in training) and with it; its grad norms and evaluations at steps 2 and 4 equal
/// train-local's. The cluster is then stopped whole and started again: <see cref="QstClientResults.DownloadResultAsync"/>
/// returns the export bitwise equal to <c>train-local --out</c>'s, and <c>qst eval</c> on both exports gives the same numbers,
/// which are also the job's final reported evaluation.
/// </summary>
public sealed class EvaluatedResultTests : IDisposable
{
    const int Steps = 4;
    const string JobId = "evaluated-result";
    readonly TestDirectory _dir = new();

    JobSpec Spec()
    {
        var spec = new JobSpec
        {
            ModelDirectory = _dir["tiny"], DataFile = _dir["data.jsonl"], Epochs = 1, MaxSteps = Steps, MicroBatchSize = 4,
            GradientAccumulation = 2, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 5, Window = 3, Stages = 2, CheckpointEverySteps = 2,
            ValidationFile = _dir["val.jsonl"], MmluFile = _dir["mmlu.jsonl"],
        };
        return spec with { Config = spec.Config with { Evaluation = spec.Config.Evaluation with { EverySteps = 2 } } };
    }

    [Fact]
    public async Task AnEvaluatedClusterJobsResultAndNumbersEqualTrainLocalsAfterAFullRestart()
    {
        MakeModelCommand.Run("tiny", _dir["tiny"], seed: 13);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["data.jsonl"], 64, seed: 13);
        SyntheticDatasets.WriteAlpacaJsonl(_dir["val.jsonl"], 10, seed: 17);
        File.WriteAllLines(_dir["mmlu.jsonl"], ClusterEvaluationReference.Questions);
        var spec = Spec();
        Assert.Equal("lean", spec.Taps);

        JobProgress finished;
        List<StepReport> reference;
        List<JobStepCompleted> events;
        var first = QstTestSilo.Build(2, _dir.Path, durableState: true, serviceId: "evaluated-result-tests");
        try
        {
            var job = first.Client.GetGrain<ITrainingJobGrain>(JobId);
            var started = await job.Start(spec);
            Assert.True(started.State == JobState.Running, started.Message);
            finished = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
            Assert.True(finished.State == JobState.Completed, $"{finished.State}: {finished.Message}");

            reference = ClusterEvaluationReference.TrainLocal(spec, _dir["local"]).ToList();
            var unevaluated = ClusterEvaluationReference.TrainLocal(spec with { ValidationFile = null, MmluFile = null,
                Config = spec.Config with { Evaluation = new() } }, null);
            Assert.All(unevaluated, r => Assert.Null(r.Evaluation));
            Assert.Equal(unevaluated.Select(r => r.Loss), finished.Losses);   // evaluation left training bitwise unchanged
            Assert.Equal(reference.Select(r => r.Loss), finished.Losses);
            Assert.Equal([2, 4], reference.Where(r => r.Evaluation is not null).Select(r => r.Step));

            events = await ClusterEvaluationReference.StepEvents(new QstClient(first.Client), JobId);
            ClusterEvaluationReference.AssertSameMetrics(reference, events);
            Assert.Equal(events[^1].Evaluation, finished.Evaluation);
        }
        finally
        {
            await first.StopAllSilosAsync();
            await first.DisposeAsync();
        }
        var final = finished.Evaluation!;
        Assert.Equal(Steps, final.Step);

        var second = QstTestSilo.Build(2, _dir.Path, durableState: true, serviceId: "evaluated-result-tests");
        try
        {
            var client = new QstClient(second.Client);
            var restarted = await client.StatusAsync(JobId);
            Assert.Equal(JobState.Completed, restarted.State);
            // The per-step metrics were stored with the losses: after the restart the event stream still carries every step's
            // grad norm, lr, epoch and evaluation, equal to train-local's and to what the first cluster pushed.
            var replayed = await ClusterEvaluationReference.StepEvents(client, JobId);
            ClusterEvaluationReference.AssertSameMetrics(reference, replayed);
            Assert.Equal(events.Select(e => (e.Step, e.Epoch, e.LearningRate, e.Loss)), replayed.Select(e => (e.Step, e.Epoch, e.LearningRate, e.Loss)));
            Assert.Equal(final, restarted.Evaluation);
            await client.DownloadResultAsync(JobId, _dir["downloaded"], chunkBytes: 16 << 10);
            foreach (var name in new[] { SideNetworkExport.WeightsFile, SideNetworkExport.ConfigFile })
                Assert.True(File.ReadAllBytes(Path.Combine(_dir["local"], name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(_dir["downloaded"], name))),
                    $"{name}: the downloaded result differs from train-local's export");
        }
        finally
        {
            await second.StopAllSilosAsync();
            await second.DisposeAsync();
        }

        // `qst eval` of both exports: the same numbers, and those the job reported for its last step.
        EvalResult Eval(string side) => EvalCommand.Run(new EvalSettings
        {
            Model = _dir["tiny"], Side = side, Data = _dir["val.jsonl"], Mmlu = _dir["mmlu.jsonl"], Config = spec.Config,
        });
        var ofLocal = Eval(_dir["local"]);
        var ofDownload = Eval(_dir["downloaded"]);
        Assert.Equal(ofLocal.Validation, ofDownload.Validation);
        Assert.Equal((ofLocal.MultipleChoice!.Correct, ofLocal.MultipleChoice.Total), (ofDownload.MultipleChoice!.Correct, ofDownload.MultipleChoice.Total));
        Assert.Equal(ofLocal.MultipleChoice.Predictions, ofDownload.MultipleChoice.Predictions);
        Assert.Equal((final.ValidationLoss, final.ValidationPerplexity, final.MultipleChoiceAccuracy),
            (ofDownload.Validation!.Loss, ofDownload.Validation.Perplexity, ofDownload.MultipleChoice.Accuracy));
    }

    public void Dispose() => _dir.Dispose();
}
