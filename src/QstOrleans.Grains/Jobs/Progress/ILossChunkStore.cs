namespace QstOrleans.Grains.Jobs.Progress;

/// <summary>Where a <see cref="LossHistory"/> keeps its chunks: chunk k holds the losses of steps k·size+1 .. (k+1)·size.</summary>
public interface ILossChunkStore
{
    /// <summary>The stored chunk, or null when it was never written.</summary>
    Task<float[]?> ReadAsync(int chunk);

    /// <summary>Replaces chunk <paramref name="chunk"/> (a chunk is rewritten only while it is the last one, or after a rewind into it).</summary>
    Task WriteAsync(int chunk, float[] losses);
}
