using Microsoft.Extensions.Logging;
using QstOrleans.Storage.Blobs;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Grains.Hosting;

/// <summary>
/// The silo's checkpoint store (a DI singleton built from <see cref="QstSiloOptions.Checkpoints"/>): one
/// <see cref="CheckpointStore"/> per job under the prefix <c>jobs/{job id}</c> of a local directory or an Azure
/// container. The blob store is opened on first use, so a silo whose options are wrong fails the first checkpoint
/// (naming the option), not its start.
/// </summary>
/// <remarks>Throws <see cref="ArgumentException"/> naming the option for an unknown store or a missing connection string.</remarks>
public sealed class CheckpointStores(QstSiloOptions options, ILoggerFactory logs)
{
    readonly Lazy<Task<IBlobStore>> _blobs = new(() => Open(options.Checkpoints));

    /// <summary>The checkpoints of job <paramref name="jobId"/>.</summary>
    public async Task<CheckpointStore> ForJob(string jobId) =>
        new(await _blobs.Value, Prefix(jobId), new CheckpointStoreOptions(Math.Max(1, options.Checkpoints.KeepLast)),
            logs.CreateLogger<CheckpointStore>());

    /// <summary>The blob store itself (uploaded datasets live beside the jobs, under <c>datasets/</c>).</summary>
    public Task<IBlobStore> Blobs() => _blobs.Value;

    /// <summary><c>jobs/{id}</c>, with characters blob names do not allow replaced (and a hash suffix then, so ids stay distinct).</summary>
    public static string Prefix(string jobId)
    {
        var safe = new string(jobId.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray()).TrimStart('.');
        if (safe != jobId || safe.Length == 0)
            safe = $"{safe}-{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(jobId)))[..8].ToLowerInvariant()}";
        return $"jobs/{safe}";
    }

    static async Task<IBlobStore> Open(CheckpointOptions o) => o.Store.ToLowerInvariant() switch
    {
        "local" => new LocalDirectoryBlobStore(Path.GetFullPath(o.Path)),
        "azure" => await AzureBlobStore.ConnectAsync(
            o.ConnectionString ?? throw new ArgumentException("Qst:Checkpoints:ConnectionString is required when Qst:Checkpoints:Store is azure"),
            o.Container),
        _ => throw new ArgumentException($"Qst:Checkpoints:Store is '{o.Store}'; use local or azure"),
    };
}
