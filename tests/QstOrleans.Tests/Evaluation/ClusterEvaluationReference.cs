using QstOrleans.Cli.Train;
using QstOrleans.Model.Training;

namespace QstOrleans.Tests.Evaluation;

/// <summary>
/// What the cluster's evaluation is checked against: <c>qst train-local</c> (the single-process trainer and its own
/// evaluators, an independent code path) run with the job's whole config and evaluation files, and the job's pushed step
/// events read back through the client.
/// </summary>
internal static class ClusterEvaluationReference
{
    /// <summary>The MMLU-style questions the cluster tests score (letters, choices and an answer each).</summary>
    public static readonly string[] Questions =
    [
        """{"question": "Reverse the word cat.", "choices": ["tac", "cat", "act", "tca"], "answer": "A"}""",
        """{"question": "Uppercase the word dog.", "choices": ["dog", "DOG", "Dog", "dOG"], "answer": "B"}""",
        """{"question": "Add the numbers 3 4.", "choices": ["6", "8", "7", "5"], "answer": "C"}""",
        """{"question": "Reverse the word sun.", "choices": ["uns", "snu", "nus", "sun"], "answer": "C"}""",
        """{"question": "Lowercase the word CAT.", "choices": ["Cat", "cAT", "CAT", "cat"], "answer": "D"}""",
    ];

    /// <summary>train-local of <paramref name="spec"/> (its config, model, data and evaluation files); <paramref name="output"/> gets the run folder.</summary>
    public static List<StepReport> TrainLocal(JobSpec spec, string? output)
    {
        var reports = new List<StepReport>();
        _ = TrainLocalCommand.Run(new TrainLocalSettings
        {
            Config = spec.Config, Model = spec.ModelDirectory, Data = spec.DataFile, ValData = spec.ValidationFile, Mmlu = spec.MmluFile, Output = output,
        }, reports).ToList();
        return reports;
    }

    /// <summary>The job's step events from its watch (the history of a finished job's activation, then its final state).</summary>
    public static async Task<List<JobStepCompleted>> StepEvents(QstOrleans.Client.QstClient client, string jobId)
    {
        var steps = new List<JobStepCompleted>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await foreach (var e in client.WatchAsync(jobId, cancel: timeout.Token))
        {
            if (e is JobStepCompleted s) steps.Add(s);
            if (e is JobStateChanged { IsFinished: true }) break;
        }
        return steps;
    }

    /// <summary>Every step's grad norm and evaluation in the events equals train-local's report of that step, bitwise; steps
    /// train-local did not evaluate carry no evaluation.</summary>
    public static void AssertSameMetrics(IReadOnlyList<StepReport> reference, IReadOnlyList<JobStepCompleted> events)
    {
        Assert.Equal(reference.Select(r => r.Step), events.Select(e => e.Step));
        for (int i = 0; i < reference.Count; i++)
        {
            var (r, e) = (reference[i], events[i]);
            Assert.True(e.GradNorm == r.GradNorm, $"step {r.Step}: grad norm {e.GradNorm} in the job's event, {r.GradNorm} in train-local");
            if (r.Evaluation is not { } expected)
            {
                Assert.Null(e.Evaluation);
                continue;
            }
            var actual = e.Evaluation ?? throw new Xunit.Sdk.XunitException($"step {r.Step} was evaluated by train-local but the job's event has no evaluation");
            Assert.Equal(r.Step, actual.Step);
            Assert.Equal((expected.ValidationLoss, expected.ValidationPerplexity, expected.MultipleChoiceAccuracy),
                (actual.ValidationLoss, actual.ValidationPerplexity, actual.MultipleChoiceAccuracy));
            Assert.Equal(expected.ValidationLoss, e.ValidationLoss);
        }
    }
}
