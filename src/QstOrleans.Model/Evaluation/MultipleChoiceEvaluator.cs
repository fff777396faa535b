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
        Check(items, choiceTokenIds, microBatchSize);
        var predictions = new List<int>(items.Count);
        using var mode = EvaluationMode.Enter(model);
        foreach (var chunk in items.Chunk(microBatchSize))
        {
            using var scope = NewDisposeScope();
            var batch = PromptBatch.Of(chunk, padId);
            var device = model.Device;
            var logits = model.Logits(batch.Ids(device), batch.Mask(device));                                  // [B, T, V]
            predictions.AddRange(Choose(logits, batch, choiceTokenIds));
        }
        return Score(items, predictions);
    }

    /// <summary>Refuses no items, an empty prompt or an answer outside the choices (see the class).</summary>
    public static void Check(IReadOnlyList<MultipleChoiceItem> items, IReadOnlyList<long> choiceTokenIds, int microBatchSize)
    {
        if (items.Count == 0) throw new ArgumentException("multiple-choice evaluation needs at least one question", nameof(items));
        if (microBatchSize < 1) throw new ArgumentOutOfRangeException(nameof(microBatchSize), "micro-batch size must be >= 1");
        for (int i = 0; i < items.Count; i++)
        {
            if (items[i].PromptIds.Length == 0) throw new ArgumentException($"question {i}: empty prompt");
            if (items[i].Answer < 0 || items[i].Answer >= choiceTokenIds.Count)
                throw new ArgumentException($"question {i}: answer index {items[i].Answer} is outside the {choiceTokenIds.Count} choices");
        }
    }

    /// <summary>The chosen choice index of each prompt of <paramref name="batch"/>: argmax (first on ties) over the choice tokens'
    /// logits at the prompt's last position. Call inside a dispose scope.</summary>
    /// <param name="logits">[B, T, V] for the batch's ids.</param>
    public static IEnumerable<int> Choose(Tensor logits, PromptBatch batch, IReadOnlyList<long> choiceTokenIds)
    {
        long vocab = logits.shape[2];
        if (choiceTokenIds.Any(id => id < 0 || id >= vocab))
            throw new ArgumentException($"choice token ids ({string.Join(", ", choiceTokenIds)}) must lie in the vocabulary [0, {vocab})");
        var device = logits.device;
        // Select on the model's device: only the B chosen indices come back to the host, not the [B, T, V] logits.
        using Scalar rows = batch.B;   // owned: see Tensors.Scalars
        var atLast = logits.index(TensorIndex.Tensor(arange(rows, dtype: ScalarType.Int64, device: device)),
            TensorIndex.Tensor(tensor(batch.Last, device: device)));                                            // [B, V]
        var choices = atLast.index_select(1, tensor(choiceTokenIds.ToArray(), device: device));            // [B, C]
        var chosen = choices.argmax(1).cpu().data<long>().ToArray();                                       // [B]
        return chosen.Select(c => (int)c);
    }

    /// <summary>Counts the predictions (input order) that match the answers.</summary>
    public static MultipleChoiceResult Score(IReadOnlyList<MultipleChoiceItem> items, IReadOnlyList<int> predictions)
    {
        int correct = predictions.Where((p, i) => p == items[i].Answer).Count();
        return new MultipleChoiceResult(correct, items.Count, predictions);
    }
}

/// <summary>Prompts right-padded into one micro-batch: ids and mask [B, T] (row-major) and each row's last real position.</summary>
public sealed record PromptBatch(long[] IdValues, long[] MaskValues, long[] Last, int B, int T)
{
    /// <summary>Pads <paramref name="chunk"/> with <paramref name="padId"/> to its longest prompt.</summary>
    public static PromptBatch Of(IReadOnlyList<MultipleChoiceItem> chunk, long padId)
    {
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
        return new PromptBatch(ids, mask, last, b, t);
    }

    /// <summary>[B, T] int64 on <paramref name="device"/>.</summary>
    public Tensor Ids(Device device) => tensor(IdValues, [B, T], device: device);
    /// <summary>[B, T] int64 on <paramref name="device"/>, 1 on real tokens.</summary>
    public Tensor Mask(Device device) => tensor(MaskValues, [B, T], device: device);
}
