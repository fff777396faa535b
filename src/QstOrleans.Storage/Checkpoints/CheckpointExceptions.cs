namespace QstOrleans.Storage.Checkpoints;

/// <summary>
/// A checkpoint that cannot be used: manifest unreadable, a blob missing, truncated or with another checksum.
/// Thrown by <see cref="CheckpointStore.LoadAsync"/>; <see cref="CheckpointStore.LoadLatestValidAsync"/> catches it
/// and falls back to the previous checkpoint.
/// </summary>
public sealed class CheckpointCorruptException(long step, string message, Exception? inner = null) : Exception(message, inner)
{
    public long Step { get; } = step;
}

/// <summary>
/// A commit refused because it would overwrite or go behind what is committed: the step exists already, is not
/// after the latest one, or another writer moved the <c>latest</c> pointer first (duplicate activation).
/// </summary>
public sealed class CheckpointConflictException(long step, string message, Exception? inner = null) : Exception(message, inner)
{
    public long Step { get; } = step;
}
