using QstOrleans.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Evaluation;

/// <summary>A prompt (token ids, BOS included) and the index of its correct choice.</summary>
public sealed record MultipleChoiceItem(long[] PromptIds, int Answer);

/// <param name="Correct">Questions whose highest-scoring choice is the answer.</param>
/// <param name="Total">Questions asked.</param>
/// <param name="Predictions">The chosen index per question, in input order.</param>
public sealed record MultipleChoiceResult(int Correct, int Total, IReadOnlyList<int> Predictions)
{
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;
}

/// <summary>
/// Multiple-choice accuracy by next-token logits (the QST/QLoRA MMLU evaluation): for each prompt, the logits at
/// its last position are compared over the choice tokens (" A".." D") and the argmax (first on ties) is the
/// prediction. Prompts are right-padded into micro-batches, which leaves every real position's logits unchanged
/// under the causal mask. No autograd, dropout off.
/// Throws <see cref="ArgumentException"/> for no items, an empty prompt, an answer index outside the choices or a
/// choice token outside the vocabulary.
/// </summary>
public static class MultipleChoiceEvaluator
{
    public static MultipleChoiceResult Evaluate(ITrainableModel model, IReadOnlyList<MultipleChoiceItem> items,
        IReadOnlyList<long> choiceTokenIds, int microBatchSize = 8, long padId = 0)
    {
        if (items.Count == 0) throw new ArgumentException("multiple-choice evaluation needs at least one question", nameof(items));
        if (microBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(microBatchSize), "micro-batch size must be >= 1");
        for (int i = 0; i < items.Count; i++)
        {
            if (items[i].PromptIds.Length == 0) throw new ArgumentException($"question {i}: empty prompt");
            if (items[i].Answer < 0 || items[i].Answer >= choiceTokenIds.Count)
                throw new ArgumentException($"question {i}: answer index {items[i].Answer} is outside the {choiceTokenIds.Count} choices");
        }
        var predictions = new List<int>(items.Count);
        using var mode = EvaluationMode.Enter(model);
        for (int start = 0; start < items.Count; start += microBatchSize)
        {
            var chunk = items.Skip(start).Take(microBatchSize).ToList();
            using var scope = NewDisposeScope();
            int b = chunk.Count, t = chunk.Max(c => c.PromptIds.Length);
            var ids = new long[b * t];
            var mask = new long[b * t];
            var last = new long[b];
            for (int r = 0; r < b; r++)
            {
                var p = chunk[r].PromptIds;
                Array.Fill(ids, padId, r * t, t);
                Array.Copy(p, 0, ids, r * t, p.Length);
                Array.Fill(mask, 1L, r * t, p.Length);
                last[r] = p.Length - 1;
            }
            var device = model.Device;
            var logits = model.Logits(tensor(ids, [b, t], device: device), tensor(mask, [b, t], device: device));   // [B, T, V]
            long vocab = logits.shape[2];
            if (choiceTokenIds.Any(id => id < 0 || id >= vocab))
                throw new ArgumentException($"choice token ids ({string.Join(", ", choiceTokenIds)}) must lie in the vocabulary [0, {vocab})");
            // Select on the model's device: only the B chosen indices come back to the host, not the [B, T, V] logits.
            using Scalar rows = b;   // owned: see Tensors.Scalars
            var atLast = logits.index(TensorIndex.Tensor(arange(rows, dtype: ScalarType.Int64, device: device)),
                TensorIndex.Tensor(tensor(last, device: device)));                                                  // [B, V]
            var choices = atLast.index_select(1, tensor(choiceTokenIds.ToArray(), device: device));            // [B, C]
            var chosen = choices.argmax(1).cpu().data<long>().ToArray();                                       // [B]
            predictions.AddRange(chosen.Select(c => (int)c));
        }
        int correct = predictions.Where((p, i) => p == items[i].Answer).Count();
        return new MultipleChoiceResult(correct, items.Count, predictions);
    }
}
