using QstOrleans.Cli.Cluster;
using QstOrleans.Cli.Train;

namespace QstOrleans.Tests.Cli;

/// <summary>
/// How <c>qst train</c> and <c>qst status</c> show a cluster job's grad norm and evaluation, and that <c>qst train</c> takes
/// <c>train-local</c>'s evaluation options (refused as unknown before).
/// </summary>
public sealed class TrainEvaluationLineTests
{
    static readonly JobProgress Progress = new()
    {
        JobId = "j", State = JobState.Running, Step = 4, TotalSteps = 8, Epoch = 0, Loss = 2.5f, TokensPerSecond = 100, GradNorm = 0.123456,
        Evaluation = new JobEvaluation(4, 2.345678, 10.4395, 0.6),
    };

    [Fact]
    public void AStepLineShowsTheGradNormAndTheEvaluationOfThatStepLikeTrainLocal()
    {
        string line = JobProgressView.StepLine(Progress);
        Assert.Contains("loss 2.5000  grad-norm 0.123  tokens/s", line);
        // train-local's own formatting of the same numbers (TrainLocalEvaluation), so both commands print the same parts.
        Assert.EndsWith(TrainLocalEvaluation.Format(new QstOrleans.Model.Evaluation.EvaluationReport(2.345678, 10.4395, 0.6)), line);
        Assert.EndsWith("val-loss 2.3457  val-ppl 10.44  mmlu-acc 0.600", line);

        // An evaluation of another step is not printed on this one; a step without a known grad norm shows none.
        string later = JobProgressView.StepLine(Progress with { Step = 5, GradNorm = null });
        Assert.DoesNotContain("val-loss", later);
        Assert.DoesNotContain("grad-norm", later);
        // A job that measures only the validation set prints only those parts.
        Assert.EndsWith("val-loss 2.3457  val-ppl 10.44", JobProgressView.StepLine(Progress with { Evaluation = new JobEvaluation(4, 2.345678, 10.4395, null) }));
    }

    [Fact]
    public void TheSummaryNamesTheLatestEvaluation()
    {
        var lines = JobProgressView.Summary(Progress with { State = JobState.Completed }).ToList();
        Assert.Contains("  evaluation at step 4:  val-loss 2.3457  val-ppl 10.44  mmlu-acc 0.600", lines);
        Assert.DoesNotContain(JobProgressView.Summary(Progress with { Evaluation = null }), l => l.Contains("evaluation"));
    }

    [Fact]
    public void TrainTakesTheEvaluationOptions()
    {
        var parsed = TrainCommand.Create().Parse(["--val-data", "val.jsonl", "--mmlu", "mmlu.jsonl", "--eval-every", "2", "--val-fraction", "0.1"]);
        Assert.Empty(parsed.Errors);
    }
}
