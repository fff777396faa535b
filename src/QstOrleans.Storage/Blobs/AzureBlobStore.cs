using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace QstOrleans.Storage.Blobs;

/// <summary>
/// <see cref="IBlobStore"/> on one Azure Blob Storage container (or azurite), optionally under a name prefix.
/// Conditions map onto the service's own: create-only is <c>If-None-Match: *</c>, If-Match is <c>If-Match: etag</c>,
/// so the service arbitrates between writers. Uploads are single-shot for small blobs and block lists for large
/// ones; either way the blob appears only when the upload commits.
/// </summary>
/// <remarks>
/// Throws <see cref="BlobConflictException"/> when the service answers 409 (exists) or 412 (condition not met),
/// <see cref="ArgumentException"/> for a bad name; other <see cref="RequestFailedException"/>s propagate.
/// </remarks>
public sealed class AzureBlobStore : IBlobStore
{
    readonly BlobContainerClient _container;

    public AzureBlobStore(BlobContainerClient container) => _container = container;

    /// <summary>Connects with a connection string and creates the container if needed.</summary>
    public static async Task<AzureBlobStore> ConnectAsync(string connectionString, string containerName, CancellationToken cancellationToken = default)
    {
        var container = new BlobContainerClient(connectionString, containerName);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        return new AzureBlobStore(container);
    }

    public string Location => _container.Uri.ToString();

    BlobClient Blob(string name) => _container.GetBlobClient(BlobNames.Validate(name));

    public async Task<BlobProperties> PutAsync(string name, Stream content, BlobWriteCondition condition, CancellationToken cancellationToken = default)
    {
        var client = Blob(name);
        var options = new BlobUploadOptions
        {
            Conditions = condition.Mode switch
            {
                BlobWriteMode.CreateOnly => new BlobRequestConditions { IfNoneMatch = ETag.All },
                BlobWriteMode.IfMatch => new BlobRequestConditions { IfMatch = new ETag(condition.ETag!) },
                _ => null,
            },
        };
        // The length is counted on the way through: the SDK's answer carries no size.
        var counting = new CountingReadStream(content);
        try
        {
            var response = await client.UploadAsync(counting, options, cancellationToken).ConfigureAwait(false);
            return new BlobProperties(name, counting.Count, response.Value.ETag.ToString());
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            throw new BlobConflictException(Location, name, condition.Mode == BlobWriteMode.CreateOnly
                ? "already exists (create-only write refused)"
                : $"does not match If-Match {condition.ETag} (another writer changed it)", e);
        }
        catch (RequestFailedException e) when (e.Status == 404 && condition.Mode == BlobWriteMode.IfMatch)
        {
            throw new BlobConflictException(Location, name, $"does not exist (If-Match {condition.ETag} refused)", e);
        }
    }

    public async Task<BlobProperties?> GetAsync(string name, Stream destination, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await Blob(name).DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            using var download = response.Value;
            var counting = new CountingReadStream(download.Content);
            await counting.CopyToAsync(destination, 1 << 20, cancellationToken).ConfigureAwait(false);
            return new BlobProperties(name, counting.Count, download.Details.ETag.ToString());
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<BlobItem>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var items = new List<BlobItem>();
        await foreach (var blob in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix }, cancellationToken).ConfigureAwait(false))
            items.Add(new BlobItem(blob.Name, blob.Properties.ContentLength ?? 0));
        items.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return items;
    }

    public async Task<bool> DeleteAsync(string name, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        var conditions = ifMatch is null ? null : new BlobRequestConditions { IfMatch = new ETag(ifMatch) };
        try
        {
            var response = await Blob(name).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, conditions, cancellationToken).ConfigureAwait(false);
            return response.Value;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            throw new BlobConflictException(Location, name, $"has another ETag than {ifMatch} (delete refused)", e);
        }
    }

    /// <summary>A read-only pass-through stream that counts the bytes read.</summary>
    sealed class CountingReadStream(Stream inner) : Stream
    {
        public long Count { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) { int n = inner.Read(buffer, offset, count); Count += n; return n; }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            Count += n;
            return n;
        }
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
