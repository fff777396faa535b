using QstOrleans.Model.Baselines;
using QstOrleans.Model.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Evaluation;

/// <summary>
/// A stand-in model whose logits the test controls: position (b, t) gets row <c>Table[ids[b, t]]</c>, so every
/// expected loss or choice can be computed by hand from <see cref="Table"/> alone.
/// </summary>
internal sealed class TableLogitsModel : ITrainableModel
{
    public TableLogitsModel(int vocab, int seed)
    {
        var rng = new Random(seed);
        Table = new float[vocab][];
        for (int i = 0; i < vocab; i++) Table[i] = Enumerable.Range(0, vocab).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray();
    }

    /// <summary>[V][V]: the logits row emitted after reading token id i.</summary>
    public float[][] Table { get; }
    public int Calls { get; private set; }
    public TrainingMethod Method => TrainingMethod.Full;
    public Device Device => CPU;
    public IReadOnlyList<Parameter> TrainableParameters { get; } = [];

    public Tensor Logits(Tensor inputIds, Tensor attentionMask)
    {
        Calls++;
        using var table = tensor(Table.SelectMany(r => r).ToArray(), [Table.Length, Table.Length]);
        return table.index_select(0, inputIds.reshape(-1)).reshape(inputIds.shape[0], inputIds.shape[1], Table.Length); // [B, T, V]
    }

    public void Dispose() { }
}
