using System.Security.Cryptography;

namespace QstOrleans.Storage.Blobs;

/// <summary>
/// <see cref="IBlobStore"/> on a local directory (the embedded default): blob <c>a/b/c</c> is the file
/// <c>ROOT/a/b/c</c>. Features:
/// <list type="bullet">
/// <item>Atomic puts: the content goes to <c>ROOT/.tmp/GUID</c>, is fsynced, then renamed over the final name (same
/// file system, so readers see the old file or the complete new one; a crash leaves only a stray temp file,
/// removed by the next store opened on the directory).</item>
/// <item>ETag = SHA-256 of the content (hex), computed while writing or reading; equal content, equal tag.</item>
/// <item>Conditional puts and deletes are checked and applied under <c>ROOT/.lock</c>, an exclusive file lock
/// (flock on Unix) that serializes writers across processes, plus a semaphore within the process. Only the short
/// check-and-rename holds the lock; the data write does not.</item>
/// </list>
/// </summary>
/// <remarks>
/// Throws <see cref="BlobConflictException"/> for a failed condition, <see cref="ArgumentException"/> for a bad
/// name, <see cref="IOException"/> for file-system errors (a lock not obtained within 30 s included).
/// The directory entry of a rename is not fsynced (.NET has no portable directory fsync): after a power loss
/// the newest rename may be lost, but never half-applied.
/// </remarks>
public sealed class LocalDirectoryBlobStore : IBlobStore
{
    const string TempDir = ".tmp", LockFile = ".lock";
    static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);
    readonly SemaphoreSlim _gate = new(1, 1);

    public LocalDirectoryBlobStore(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Path.Combine(Root, TempDir));
        // Temp files are private to one put; any left over belong to a crashed writer. Only old ones are removed,
        // because another process may be writing into this directory right now.
        foreach (var stale in Directory.EnumerateFiles(Path.Combine(Root, TempDir)))
            if (File.GetLastWriteTimeUtc(stale) < DateTime.UtcNow - TimeSpan.FromHours(1))
                TryDelete(stale);
    }

    public string Root { get; }
    public string Location => Root;

    string PathOf(string name) => Path.Combine(Root, BlobNames.Validate(name).Replace('/', Path.DirectorySeparatorChar));

    public async Task<BlobProperties> PutAsync(string name, Stream content, BlobWriteCondition condition, CancellationToken cancellationToken = default)
    {
        string target = PathOf(name);
        string temp = Path.Combine(Root, TempDir, Guid.NewGuid().ToString("N"));
        try
        {
            string etag;
            long length;
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            await using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: false))
            {
                var buffer = new byte[1 << 20];
                int n;
                while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    fs.Write(buffer, 0, n);
                }
                fs.Flush(flushToDisk: true);
                length = fs.Length;
                etag = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
            await WithLockAsync(() =>
            {
                bool exists = File.Exists(target);
                switch (condition.Mode)
                {
                    case BlobWriteMode.CreateOnly when exists:
                        throw new BlobConflictException(Root, name, "already exists (create-only write refused)");
                    case BlobWriteMode.IfMatch when !exists:
                        throw new BlobConflictException(Root, name, $"does not exist (If-Match {condition.ETag} refused)");
                    case BlobWriteMode.IfMatch when HashFile(target) is var current && current != condition.ETag:
                        throw new BlobConflictException(Root, name, $"has ETag {current}, not {condition.ETag} (another writer changed it)");
                }
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                // overwrite:false for create-only: on Linux .NET links then unlinks, so it fails rather than replace
                // even if some process bypassed the lock.
                File.Move(temp, target, overwrite: condition.Mode != BlobWriteMode.CreateOnly);
            }, cancellationToken).ConfigureAwait(false);
            return new BlobProperties(name, length, etag);
        }
        finally
        {
            if (File.Exists(temp)) TryDelete(temp);
        }
    }

    public async Task<BlobProperties?> GetAsync(string name, Stream destination, CancellationToken cancellationToken = default)
    {
        string path = PathOf(name);
        FileStream fs;
        try
        {
            // A rename replaces the directory entry, not the open file: this handle keeps reading one version.
            fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 20, useAsync: false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        await using (fs)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[1 << 20];
            long length = 0;
            int n;
            while ((n = fs.Read(buffer, 0, buffer.Length)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                await destination.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                length += n;
            }
            return new BlobProperties(name, length, Convert.ToHexStringLower(hash.GetHashAndReset()));
        }
    }

    public Task<IReadOnlyList<BlobItem>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var items = new List<BlobItem>();
        foreach (var file in Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories))
        {
            string name = Path.GetRelativePath(Root, file).Replace(Path.DirectorySeparatorChar, '/');
            if (name.Split('/').Any(s => s.StartsWith('.'))) continue;     // .tmp/, .lock
            if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            try { items.Add(new BlobItem(name, new FileInfo(file).Length)); }
            catch (FileNotFoundException) { /* deleted while listing */ }
        }
        items.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return Task.FromResult<IReadOnlyList<BlobItem>>(items);
    }

    public async Task<bool> DeleteAsync(string name, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        string path = PathOf(name);
        bool deleted = false;
        await WithLockAsync(() =>
        {
            if (!File.Exists(path)) return;
            if (ifMatch is not null && HashFile(path) is var current && current != ifMatch)
                throw new BlobConflictException(Root, name, $"has ETag {current}, not {ifMatch} (delete refused)");
            File.Delete(path);
            deleted = true;
            // Drop emptied folders (checkpoint step folders) so the tree does not grow forever.
            for (var dir = Path.GetDirectoryName(path); dir is not null && dir.Length > Root.Length; dir = Path.GetDirectoryName(dir))
            {
                if (Directory.EnumerateFileSystemEntries(dir).Any()) break;
                try { Directory.Delete(dir); } catch (IOException) { break; }
            }
        }, cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    async Task WithLockAsync(Action action, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var lockFile = await AcquireFileLockAsync(cancellationToken).ConfigureAwait(false);
            action();
        }
        finally
        {
            _gate.Release();
        }
    }

    async Task<FileStream> AcquireFileLockAsync(CancellationToken cancellationToken)
    {
        string path = Path.Combine(Root, LockFile);
        var deadline = DateTime.UtcNow + LockTimeout;
        for (int delayMs = 1; ; delayMs = Math.Min(delayMs * 2, 50))
        {
            try
            {
                // FileShare.None takes an exclusive advisory lock (flock) on Unix; another process gets an IOException.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(delayMs, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new IOException($"{path}: could not lock the blob store within {LockTimeout.TotalSeconds:F0} s", e);
            }
        }
    }

    static string HashFile(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { /* best effort */ } catch (UnauthorizedAccessException) { }
    }
}
