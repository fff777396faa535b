namespace QstOrleans.Grains.Hosting;

/// <summary>
/// Where side trainers keep checkpoints (config section <c>Qst:Checkpoints</c>):
/// <code>
/// "Checkpoints": { "Store": "local", "Path": "/var/lib/qst/checkpoints", "KeepLast": 3 }
/// "Checkpoints": { "Store": "azure", "ConnectionString": "...", "Container": "qst-checkpoints" }
/// </code>
/// Every silo that may host a side trainer must see the same store (a shared directory or the same container),
/// because a side trainer re-activated on another silo restores from it.
/// </summary>
public sealed class CheckpointOptions
{
    /// <summary><c>local</c> (a directory) or <c>azure</c> (Azure Blob Storage / Azurite).</summary>
    public string Store { get; set; } = "local";
    /// <summary>Local store: the root directory (relative paths are under the process's working directory).</summary>
    public string Path { get; set; } = "checkpoints";
    /// <summary>Azure store: the storage connection string.</summary>
    public string? ConnectionString { get; set; }
    /// <summary>Azure store: the container (created if missing).</summary>
    public string Container { get; set; } = "qst-checkpoints";
    /// <summary>Checkpoints kept per job after each commit (older ones are deleted).</summary>
    public int KeepLast { get; set; } = 3;
}
