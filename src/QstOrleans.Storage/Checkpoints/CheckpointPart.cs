namespace QstOrleans.Storage.Checkpoints;

/// <summary>
/// One blob to put into a checkpoint: a logical name (a single segment such as <c>optimizer.safetensors</c>) and a
/// way to open its content. Opened exactly once, during <see cref="CheckpointStore.CommitAsync"/>.
/// </summary>
public sealed record CheckpointPart(string Name, Func<Stream> Open)
{
    /// <summary>A part read from a file (the usual case: the model library writes files into a staging folder).</summary>
    public static CheckpointPart FromFile(string name, string path) =>
        new(name, () => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20));

    public static CheckpointPart FromBytes(string name, byte[] bytes) => new(name, () => new MemoryStream(bytes, writable: false));

    /// <summary>Every file directly inside <paramref name="directory"/>, named by its file name.</summary>
    public static IReadOnlyList<CheckpointPart> FromDirectory(string directory) =>
        Directory.GetFiles(directory).Order(StringComparer.Ordinal).Select(f => FromFile(Path.GetFileName(f), f)).ToList();
}
