using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Model.Evaluation;

/// <summary>Validation loss over a held-out set: the token-weighted mean causal-LM loss and its perplexity.</summary>
/// <param name="Loss">Σ per-token CE / number of labelled tokens, over the whole set (nats).</param>
/// <param name="Perplexity">exp(<paramref name="Loss"/>).</param>
/// <param name="Tokens">Labelled (predicted) tokens counted.</param>
public sealed record ValidationResult(double Loss, double Perplexity, long Tokens);

/// <summary>
/// Computes <see cref="ValidationResult"/> in micro-batches, without autograd and with dropout off. Each micro-batch's
/// mean loss (<see cref="CausalLmLoss"/>, so exactly the training objective) is weighted by its labelled-token
/// count, so the result does not depend on how the set is cut into micro-batches.
/// Throws <see cref="ArgumentException"/> when the batches hold no labelled token.
/// </summary>
public static class ValidationEvaluator
{
    public static ValidationResult Evaluate(ITrainableModel model, IEnumerable<MicroBatch> batches)
    {
        double lossSum = 0;
        long tokens = 0;
        using var mode = EvaluationMode.Enter(model);
        foreach (var batch in batches)
        {
            long kept = LabelledTokens(batch);
            if (kept == 0) continue;
            using var scope = NewDisposeScope();
            var (ids, labels, mask) = batch.ToTensors(model.Device);
            var logits = model.Logits(ids, mask);                                        // [B, T, V]
            lossSum += WeightedLoss(logits, labels, kept);
            tokens += kept;
        }
        return Result(lossSum, tokens);
    }

    /// <summary>One micro-batch's share of the loss sum: its mean causal-LM loss (fp32, as training computes it) × its
    /// labelled tokens. The cluster's evaluation (logits from the stages and the side trainer) adds the same terms.</summary>
    /// <param name="logits">[B, T, V].</param>
    /// <param name="labels">[B, T] int64, −100 where no loss is taken.</param>
    /// <param name="kept">The batch's <see cref="LabelledTokens"/> (> 0).</param>
    public static double WeightedLoss(Tensor logits, Tensor labels, long kept)
    {
        using var loss = CausalLmLoss.Compute(logits, labels);                           // mean over kept
        return loss.item<float>() * (double)kept;
    }

    /// <summary>The result of a loss sum over <paramref name="tokens"/> labelled tokens.</summary>
    /// <exception cref="ArgumentException">No labelled token.</exception>
    public static ValidationResult Result(double lossSum, long tokens)
    {
        if (tokens == 0) throw new ArgumentException("the validation set has no labelled tokens (every label is -100)");
        double mean = lossSum / tokens;
        return new ValidationResult(mean, Math.Exp(mean), tokens);
    }

    /// <summary>Labels the shifted loss keeps: positions 1..T−1 of each row that are not −100.</summary>
    public static long LabelledTokens(MicroBatch batch)
    {
        long kept = 0;
        for (int b = 0; b < batch.BatchSize; b++)
            for (int t = 1; t < batch.SequenceLength; t++)
                if (batch.Labels[b * batch.SequenceLength + t] != CausalLmLoss.IgnoreIndex) kept++;
        return kept;
    }
}
