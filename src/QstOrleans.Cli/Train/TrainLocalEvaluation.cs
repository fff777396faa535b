using QstOrleans.Model.Evaluation;

namespace QstOrleans.Cli.Train;

/// <summary>
/// How <c>qst train-local</c> prints an evaluation. The sets (<c>--val-data FILE</c> or <c>--val-fraction F</c>,
/// <c>--mmlu FILE</c>) and the hook that evaluates them every <c>--eval-every N</c> steps are the engine's
/// (<see cref="QstOrleans.Model.Recipe.EvaluationSets"/>).
/// </summary>
internal static class TrainLocalEvaluation
{
    /// <summary>The evaluation part of a step line ("" when the step was not evaluated).</summary>
    public static string Format(EvaluationReport? e)
    {
        if (e is null) return "";
        var parts = new List<string>();
        if (e.ValidationLoss is { } l) parts.Add(string.Create(CultureInfo.InvariantCulture, $"val-loss {l:F4}"));
        if (e.ValidationPerplexity is { } p) parts.Add(string.Create(CultureInfo.InvariantCulture, $"val-ppl {p:F2}"));
        if (e.MultipleChoiceAccuracy is { } a) parts.Add(string.Create(CultureInfo.InvariantCulture, $"mmlu-acc {a:F3}"));
        return "  " + string.Join("  ", parts);
    }
}
