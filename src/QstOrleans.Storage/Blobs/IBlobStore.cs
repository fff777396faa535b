namespace QstOrleans.Storage.Blobs;

/// <summary>How a put treats a blob that may already exist.</summary>
public enum BlobWriteMode
{
    /// <summary>Create or replace, unconditionally.</summary>
    Overwrite,
    /// <summary>Create only: fails with <see cref="BlobConflictException"/> if the name exists (Azure: If-None-Match: *).</summary>
    CreateOnly,
    /// <summary>Replace only the version with the given ETag: fails if the blob is missing or changed (Azure: If-Match).</summary>
    IfMatch,
}

/// <summary>The precondition of a put.</summary>
public readonly record struct BlobWriteCondition(BlobWriteMode Mode, string? ETag)
{
    public static BlobWriteCondition Overwrite => new(BlobWriteMode.Overwrite, null);
    public static BlobWriteCondition CreateOnly => new(BlobWriteMode.CreateOnly, null);
    public static BlobWriteCondition IfMatch(string etag) =>
        new(BlobWriteMode.IfMatch, string.IsNullOrEmpty(etag) ? throw new ArgumentException("an If-Match write needs an ETag", nameof(etag)) : etag);
}

/// <summary>A stored blob: its name, byte length and version tag (opaque; equal tags mean equal content).</summary>
public sealed record BlobProperties(string Name, long Length, string ETag);

/// <summary>A listed blob (listings carry no ETag: the local store would have to hash every file).</summary>
public sealed record BlobItem(string Name, long Length);

/// <summary>
/// A flat namespace of named byte blobs with optimistic concurrency. Names are '/'-separated segments of
/// <c>[A-Za-z0-9._-]</c> that do not start with '.' (see <see cref="BlobNames.Validate"/>); listing by prefix.
/// </summary>
/// <remarks>
/// Contract every implementation keeps: a put is all-or-nothing (readers see the old blob or the complete new
/// one, never a prefix); a conditional put or delete whose condition fails throws
/// <see cref="BlobConflictException"/> and changes nothing, so two writers never silently overwrite each other.
/// Missing blobs are <c>null</c> / <c>false</c>, not exceptions. Transport errors propagate as the
/// implementation's own exceptions (IOException, Azure.RequestFailedException).
/// </remarks>
public interface IBlobStore
{
    /// <summary>Where the blobs live, for messages (a directory path or an Azure container URI).</summary>
    string Location { get; }

    /// <summary>Uploads <paramref name="content"/> (read to its end) under <paramref name="name"/>.</summary>
    /// <returns>The new blob's properties (its ETag is the one to pass to a later If-Match).</returns>
    /// <exception cref="BlobConflictException">The condition failed.</exception>
    Task<BlobProperties> PutAsync(string name, Stream content, BlobWriteCondition condition, CancellationToken cancellationToken = default);

    /// <summary>Copies the blob into <paramref name="destination"/>; null when there is no such blob.</summary>
    Task<BlobProperties?> GetAsync(string name, Stream destination, CancellationToken cancellationToken = default);

    /// <summary>Blobs whose name starts with <paramref name="prefix"/>, in ordinal name order.</summary>
    Task<IReadOnlyList<BlobItem>> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Deletes the blob (only the version <paramref name="ifMatch"/> when given); false when it did not exist.</summary>
    /// <exception cref="BlobConflictException">The blob exists with another ETag.</exception>
    Task<bool> DeleteAsync(string name, string? ifMatch = null, CancellationToken cancellationToken = default);
}

/// <summary>A conditional write or delete lost: the blob exists (create-only) or has another version (If-Match).</summary>
public sealed class BlobConflictException(string location, string name, string message, Exception? inner = null)
    : Exception($"{location}: blob '{name}': {message}", inner)
{
    public string BlobName { get; } = name;
}

/// <summary>Small helpers shared by the stores.</summary>
public static class BlobNames
{
    /// <summary>
    /// Checks a blob name: non-empty '/'-separated segments of letters, digits, '.', '_' and '-', none starting with
    /// '.' (the local store keeps its temp and lock files under dot-names), at most 1024 characters.
    /// </summary>
    /// <exception cref="ArgumentException">Naming the bad name and why.</exception>
    public static string Validate(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > 1024) throw new ArgumentException($"blob name '{name[..40]}...' is longer than 1024 characters", nameof(name));
        foreach (var segment in name.Split('/'))
        {
            if (segment.Length == 0) throw new ArgumentException($"blob name '{name}' has an empty segment", nameof(name));
            if (segment[0] == '.') throw new ArgumentException($"blob name '{name}': segment '{segment}' starts with '.'", nameof(name));
            foreach (char c in segment)
                if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
                    throw new ArgumentException($"blob name '{name}': character '{c}' is not allowed (use [A-Za-z0-9._-] and '/')", nameof(name));
        }
        return name;
    }

    /// <summary>Reads a whole (small) blob into memory; null when missing.</summary>
    public static async Task<(byte[] Bytes, BlobProperties Properties)?> GetBytesAsync(this IBlobStore store, string name, CancellationToken cancellationToken = default)
    {
        using var buffer = new MemoryStream();
        var props = await store.GetAsync(name, buffer, cancellationToken).ConfigureAwait(false);
        return props is null ? null : (buffer.ToArray(), props);
    }

    /// <summary>Uploads a byte array.</summary>
    public static async Task<BlobProperties> PutBytesAsync(this IBlobStore store, string name, byte[] bytes, BlobWriteCondition condition, CancellationToken cancellationToken = default)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return await store.PutAsync(name, stream, condition, cancellationToken).ConfigureAwait(false);
    }
}
