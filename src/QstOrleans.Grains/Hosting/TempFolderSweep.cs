using Microsoft.Extensions.Logging;

namespace QstOrleans.Grains.Hosting;

/// <summary>
/// Silo startup task: deletes the side trainer's scratch folders (<c>qst-side-*</c> for checkpoint uploads,
/// <c>qst-restore-*</c> for restores, <c>qst-upload-*</c> for dataset uploads) that a silo killed mid-upload left in the temp directory. Several silos may share
/// one temp directory (test clusters, several silos per host), so only folders untouched for <see cref="QstSiloOptions.TempSweepAge"/>
/// are taken: a live upload writes its files first and finishes long before that. Runs in the background.
/// </summary>
internal sealed class TempFolderSweep(QstSiloOptions silo, ILogger<TempFolderSweep> log) : IStartupTask
{
    static readonly string[] Patterns = ["qst-side-*", "qst-restore-*", "qst-upload-*"];

    public Task Execute(CancellationToken cancellationToken)
    {
        _ = Task.Run(() =>
        {
            try
            {
                int removed = Sweep(Path.GetTempPath(), silo.TempSweepAge, DateTime.UtcNow);
                if (removed > 0) log.LogInformation("removed {Count} stale side-trainer temp folder(s) from {Dir}", removed, Path.GetTempPath());
            }
            catch (Exception e)
            {
                log.LogWarning("sweeping stale temp folders failed: {Message}", e.Message);
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Deletes the scratch folders in <paramref name="directory"/> whose newest entry is older than <paramref name="age"/>; returns how many.</summary>
    public static int Sweep(string directory, TimeSpan age, DateTime nowUtc)
    {
        int removed = 0;
        foreach (var folder in Patterns.SelectMany(p => new DirectoryInfo(directory).EnumerateDirectories(p)))
        {
            try
            {
                if (folder.LinkTarget is not null) continue;   // never follow a link planted in a shared temp directory
                var newest = folder.EnumerateFileSystemInfos("*", SearchOption.AllDirectories).Select(f => f.LastWriteTimeUtc)
                    .Append(folder.LastWriteTimeUtc).Max();
                if (nowUtc - newest < age) continue;
                folder.Delete(recursive: true);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another silo removed it meanwhile, or it is not ours to delete.
            }
        }
        return removed;
    }
}
