using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>One micro-batch as plain arrays (row-major [B·T]); the data library's batches map onto it.</summary>
public sealed record MicroBatch(long[] InputIds, long[] Labels, long[] AttentionMask, int BatchSize, int SequenceLength)
{
    /// <summary>Non-padding tokens (what tokens/s counts).</summary>
    public int TokenCount => AttentionMask.Count(m => m != 0);

    /// <summary>The three tensors [B, T] int64; dispose them (or create them inside a step scope).</summary>
    /// <param name="device">Where to put them (CPU when null).</param>
    public (Tensor InputIds, Tensor Labels, Tensor AttentionMask) ToTensors(Device? device = null) => (
        tensor(InputIds, [BatchSize, SequenceLength], device: device),
        tensor(Labels, [BatchSize, SequenceLength], device: device),
        tensor(AttentionMask, [BatchSize, SequenceLength], device: device));
}
