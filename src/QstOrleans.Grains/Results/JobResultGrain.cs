using Microsoft.Extensions.Logging;
using QstOrleans.Grains.Hosting;

namespace QstOrleans.Grains.Results;

/// <summary>
/// Serves a job's result (key = job id) from its result store (<see cref="JobResultWriter"/>) in chunks. The first call
/// copies the newest committed result into a silo-local scratch folder, verifying every file's size and SHA-256 on the
/// way (<see cref="Storage.Checkpoints.CheckpointStore.LoadAsync"/>); chunks are then read from that copy. The copy is
/// dropped with the activation (and reloaded if the temp sweep took it). The client checks each file's SHA-256 again.
/// </summary>
public sealed class JobResultGrain(CheckpointStores stores, ILogger<JobResultGrain> log) : Grain, IJobResultGrain
{
    JobResult? _result;
    string? _folder;
    string JobId => this.GetPrimaryKeyString();

    public async Task<JobResult> Describe() => (await Load()).Result;

    public async Task<byte[]> ReadChunk(string name, long offset, int count)
    {
        if (count < 1 || count > IJobResultGrain.MaxChunkBytes)
            throw new ArgumentOutOfRangeException(nameof(count), $"a chunk of {count} bytes was asked for; ask for 1 to {IJobResultGrain.MaxChunkBytes}");
        var (result, folder) = await Load();
        var file = result.Files.FirstOrDefault(f => f.Name == name)
                   ?? throw new ArgumentException($"the result of job '{JobId}' has no file '{name}' (it has {string.Join(", ", result.Files.Select(f => f.Name))})", nameof(name));
        if (offset < 0 || offset > file.Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"offset {offset} is outside '{name}' of the result of job '{JobId}' ({file.Size} bytes)");
        var buffer = new byte[(int)Math.Min(count, file.Size - offset)];
        await using var stream = new FileStream(Path.Combine(folder, name), FileMode.Open, FileAccess.Read, FileShare.Read, 1, useAsync: true);
        stream.Position = offset;
        await stream.ReadExactlyAsync(buffer);
        return buffer;
    }

    async Task<(JobResult Result, string Folder)> Load()
    {
        if (_result is not null && _folder is not null && Directory.Exists(_folder)) return (_result, _folder);
        DropCopy();
        var store = JobResultWriter.ResultsOf(await stores.ForJob(JobId));
        var steps = await store.ListStepsAsync();
        if (steps.Count == 0)
            throw new InvalidOperationException($"job '{JobId}' has no result in {store.Location}: a job writes its result at its last step " +
                                                "(is it still running, did it fail, or is it not a job of this cluster?)");
        // qst-restore-*: a silo killed while serving leaves it to the startup sweep.
        string folder = Path.Combine(Path.GetTempPath(), $"qst-restore-result-{Guid.NewGuid():N}");
        try
        {
            var manifest = await store.LoadAsync(steps[^1], folder);   // verifies sizes and SHA-256 while copying
            _result = new JobResult(JobId, manifest.Step, store.Location,
                manifest.Blobs.Select(b => new JobResultFile(b.Name, b.Size, b.Sha256)).ToList());
            _folder = folder;
            log.LogInformation("job {Job}: serving its result of step {Step} from {Location}", JobId, manifest.Step, store.Location);
            return (_result, _folder);
        }
        catch
        {
            TryDelete(folder);
            throw;
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken token)
    {
        DropCopy();
        return Task.CompletedTask;
    }

    void DropCopy()
    {
        if (_folder is { } f) TryDelete(f);
        (_result, _folder) = (null, null);
    }

    static void TryDelete(string folder)
    {
        try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }
}
