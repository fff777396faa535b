namespace QstOrleans.Contracts.Wire;

/// <summary>
/// One evaluation of a cluster job between optimizer steps (<c>evaluation.every_steps</c> and after the last step): the
/// numbers <c>qst train-local</c> prints for the same step. A part is null when its set is not configured.
/// </summary>
/// <param name="Step">The optimizer step the side network had completed when it was evaluated.</param>
/// <param name="ValidationLoss">Token-weighted mean causal-LM loss over the validation set (nats).</param>
/// <param name="ValidationPerplexity">exp(<paramref name="ValidationLoss"/>).</param>
/// <param name="MultipleChoiceAccuracy">MMLU-style accuracy (fraction of questions answered right).</param>
[GenerateSerializer, Immutable]
public sealed record JobEvaluation(
    [property: Id(0)] int Step,
    [property: Id(1)] double? ValidationLoss,
    [property: Id(2)] double? ValidationPerplexity,
    [property: Id(3)] double? MultipleChoiceAccuracy);

/// <summary>What the side trainer reports with a completed optimizer step besides its loss.</summary>
/// <param name="GradNorm">The global gradient norm before clipping.</param>
/// <param name="Evaluation">The evaluation of this step, when one was due (null otherwise).</param>
/// <param name="Skipped">Why the step's update was not applied (<c>optimizer.non_finite = skip</c>: "non-finite loss" or
/// "non-finite gradient"); null when it was applied.</param>
[GenerateSerializer, Immutable]
public sealed record StepMetrics(
    [property: Id(0)] double GradNorm,
    [property: Id(1)] JobEvaluation? Evaluation = null,
    [property: Id(2)] string? Skipped = null);

/// <summary>
/// A forward-only pass of one evaluation micro-batch through one backbone stage (the side trainer drives the stages one
/// after the other; nothing of it touches the training pipeline's queues, W_A or optimizer state).
/// </summary>
/// <param name="JobId">The job evaluating (for messages).</param>
/// <param name="Attempt">The job attempt evaluating (for messages).</param>
/// <param name="Input">Token ids [B, T] int64 (first stage) or the previous stage's last hidden state [B, T, H].</param>
/// <param name="AttentionMask">[B, T] int64, 0 on padding.</param>
[GenerateSerializer, Immutable]
public sealed record StageForwardRequest(
    [property: Id(0)] string JobId,
    [property: Id(1)] int Attempt,
    [property: Id(2)] TensorPayload Input,
    [property: Id(3)] TensorPayload AttentionMask);

/// <summary>The full taps of one stage for a <see cref="StageForwardRequest"/>: its hidden states in global tap order (the
/// embedding output first on stage 0; the last one is the next stage's input) and, on the last stage, ĥ.</summary>
/// <param name="Taps">[B, T, H] each.</param>
/// <param name="FinalNormed">[B, T, E] on the last stage, else null.</param>
[GenerateSerializer, Immutable]
public sealed record StageForwardResult(
    [property: Id(0)] IReadOnlyList<TensorPayload> Taps,
    [property: Id(1)] TensorPayload? FinalNormed);
