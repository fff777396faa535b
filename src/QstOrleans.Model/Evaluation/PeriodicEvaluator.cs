using QstOrleans.Model.Training;

namespace QstOrleans.Model.Evaluation;

/// <summary>What one evaluation measured; a field is null when that evaluation is not configured.</summary>
public sealed record EvaluationReport(double? ValidationLoss, double? ValidationPerplexity, double? MultipleChoiceAccuracy);

/// <summary>A multiple-choice set ready to score: prompts, the choice tokens and the padding id.</summary>
public sealed record MultipleChoiceSet(IReadOnlyList<MultipleChoiceItem> Items, IReadOnlyList<long> ChoiceTokenIds, long PadId = 0);

/// <summary>
/// The trainer's evaluation hook: every <c>every</c> optimizer steps, and after the last step, it measures the
/// validation loss/perplexity and/or multiple-choice accuracy and attaches them to the step's report. Pass
/// <see cref="AfterStep"/> to <see cref="LocalTrainer.Train"/>; the trainer runs it outside its tokens/s clock.
/// Throws <see cref="ArgumentOutOfRangeException"/> for <c>every</c> &lt; 1.
/// </summary>
public sealed class PeriodicEvaluator
{
    readonly ITrainableModel _model;
    readonly int _every, _totalSteps, _microBatchSize;
    readonly IReadOnlyList<MicroBatch>? _validation;
    readonly MultipleChoiceSet? _multipleChoice;

    public PeriodicEvaluator(ITrainableModel model, int every, int totalSteps, IReadOnlyList<MicroBatch>? validation,
        MultipleChoiceSet? multipleChoice, int microBatchSize = 8)
    {
        if (every < 1) throw new ArgumentOutOfRangeException(nameof(every), every, "evaluate every N >= 1 steps");
        _model = model;
        _every = every;
        _totalSteps = totalSteps;
        _validation = validation;
        _multipleChoice = multipleChoice;
        _microBatchSize = microBatchSize;
    }

    public bool IsDue(int step) => step % _every == 0 || step == _totalSteps;

    public StepReport AfterStep(StepReport report) =>
        IsDue(report.Step) && (_validation is not null || _multipleChoice is not null)
            ? report with { Evaluation = Evaluate() }
            : report;

    public EvaluationReport Evaluate()
    {
        ValidationResult? val = _validation is null ? null : ValidationEvaluator.Evaluate(_model, _validation);
        MultipleChoiceResult? mc = _multipleChoice is null ? null
            : MultipleChoiceEvaluator.Evaluate(_model, _multipleChoice.Items, _multipleChoice.ChoiceTokenIds, _microBatchSize, _multipleChoice.PadId);
        return new EvaluationReport(val?.Loss, val?.Perplexity, mc?.Accuracy);
    }
}
