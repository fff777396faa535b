using QstOrleans.Model.Evaluation;
using QstOrleans.Model.Training;

namespace QstOrleans.Tests.Evaluation;

/// <summary>Validation loss = Σ token CE / labelled tokens over the whole set, computed here by hand in double.</summary>
public sealed class ValidationLossTests
{
    const int V = 11;

    // Two micro-batches with very different numbers of labelled tokens, so a mean of batch means would differ.
    static readonly MicroBatch First = new(
        [1, 4, 7, 2, 9, 3, /**/ 5, 6, 8, 10, 0, 0],
        [-100, -100, 7, 2, 9, 3, /**/ -100, 6, 8, 10, -100, -100],
        [1, 1, 1, 1, 1, 1, /**/ 1, 1, 1, 1, 0, 0], 2, 6);
    static readonly MicroBatch Second = new(
        [3, 3, 8, 1],
        [-100, -100, -100, 1],
        [1, 1, 1, 1], 1, 4);

    /// <summary>−log softmax(Table[input_t])[label_{t+1}] summed over kept positions, with the count.</summary>
    static (double Sum, int Count) HandCrossEntropy(TableLogitsModel m, MicroBatch b)
    {
        double sum = 0;
        int count = 0;
        for (int r = 0; r < b.BatchSize; r++)
            for (int t = 0; t + 1 < b.SequenceLength; t++)
            {
                long label = b.Labels[r * b.SequenceLength + t + 1];
                if (label == -100) continue;
                var row = m.Table[b.InputIds[r * b.SequenceLength + t]];
                double max = row.Max();
                double logSumExp = max + Math.Log(row.Sum(x => Math.Exp(x - max)));
                sum += logSumExp - row[label];
                count++;
            }
        return (sum, count);
    }

    [Fact]
    public void LossIsTheTokenWeightedMeanCrossEntropy()
    {
        using var model = new TableLogitsModel(V, seed: 5);
        var (s1, n1) = HandCrossEntropy(model, First);
        var (s2, n2) = HandCrossEntropy(model, Second);
        Assert.Equal((7, 1), (n1, n2));   // 4 + 3 kept in the first batch, 1 in the second

        var result = ValidationEvaluator.Evaluate(model, [First, Second]);

        double expected = (s1 + s2) / (n1 + n2);
        Assert.Equal(8, result.Tokens);
        Assert.Equal(expected, result.Loss, 5);
        Assert.Equal(Math.Exp(expected), result.Perplexity, 3);
        // The unweighted mean of the two batch means is a different number: the weighting is really tested.
        Assert.True(Math.Abs((s1 / n1 + s2 / n2) / 2 - expected) > 1e-2);
    }

    [Fact]
    public void CuttingTheSetDifferentlyGivesTheSameLoss()
    {
        using var model = new TableLogitsModel(V, seed: 9);
        var rows = new[] { First, Second };
        var whole = ValidationEvaluator.Evaluate(model, rows);
        // The first batch's rows one at a time.
        var split = Enumerable.Range(0, 2).Select(r => new MicroBatch(First.InputIds[(r * 6)..(r * 6 + 6)], First.Labels[(r * 6)..(r * 6 + 6)],
            First.AttentionMask[(r * 6)..(r * 6 + 6)], 1, 6)).Append(Second).ToList();
        Assert.Equal(whole.Loss, ValidationEvaluator.Evaluate(model, split).Loss, 6);
    }

    [Fact]
    public void AnAllIgnoredSetIsRefused()
    {
        using var model = new TableLogitsModel(V, seed: 1);
        var empty = new MicroBatch([1, 2, 3], [-100, -100, -100], [1, 1, 1], 1, 3);
        var e = Assert.Throws<ArgumentException>(() => ValidationEvaluator.Evaluate(model, [empty]));
        Assert.Contains("no labelled tokens", e.Message);
        Assert.Equal(0, model.Calls);
    }
}
