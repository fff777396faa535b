using Microsoft.Extensions.Logging;
using Orleans.Storage;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Grains.Persistence;

/// <summary>
/// Orleans grain storage on an <see cref="IBlobStore"/>: one blob per grain state, named by <see cref="GrainStateBlobNames"/>.
/// It stays for what Orleans' providers do not cover, a local directory (the embedded default, one-host silos); on Azure
/// it is kept only for clusters that already hold state in it, new ones use <c>Microsoft.Orleans.Persistence.AzureStorage</c>
/// (<c>Qst:State:Provider</c> azure-table or azure-blob, silos/README.md). Features:
/// <list type="bullet">
/// <item>State bytes come from the silo's <see cref="IGrainStorageSerializer"/>, wrapped in a small envelope
/// (<see cref="GrainStateEnvelope"/>) whose random write id makes every version's ETag unique.</item>
/// <item>ETag = the blob's ETag. A write is create-only when the grain holds no ETag and If-Match otherwise, so a
/// stale activation (a duplicate during a failover) can never overwrite a newer state.</item>
/// <item>Survives a process restart: the state is whatever the blob store holds (the in-memory provider loses it).</item>
/// <item>Clear deletes the blob with If-Match rather than writing a tombstone: unique ETags already rule out the
/// ABA case a tombstone would guard against, and deleting keeps finished jobs from leaving blobs behind. A stale
/// clear (another version stored) is refused; a clear of a blob someone else already deleted succeeds (the wanted
/// end state holds).</item>
/// </list>
/// </summary>
/// <remarks>
/// Throws <see cref="InconsistentStateException"/> when a write or clear loses its ETag condition (nothing is changed),
/// <see cref="InvalidDataException"/> when a stored blob is not a valid state blob (the message names the store, blob,
/// state and grain); transport errors of the blob store (IOException, Azure.RequestFailedException) propagate.
/// </remarks>
public sealed class BlobGrainStorage : IGrainStorage
{
    readonly string _name;
    readonly string _serviceId;
    readonly IBlobStore _store;
    readonly IGrainStorageSerializer _serializer;
    readonly ILogger _log;

    public BlobGrainStorage(string name, string serviceId, IBlobStore store, IGrainStorageSerializer serializer, ILogger<BlobGrainStorage> logger)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceId);
        (_name, _serviceId, _store, _serializer, _log) = (name, serviceId, store, serializer, logger);
    }

    /// <summary>The blob holding <paramref name="stateName"/> of <paramref name="grainId"/>.</summary>
    public string BlobNameOf(string stateName, GrainId grainId) =>
        GrainStateBlobNames.For(_serviceId, stateName, grainId.Type.ToString()!, grainId.Key.ToString()!);

    string Where(string blob, string stateName, GrainId grainId) => $"{_store.Location}: blob '{blob}' (state '{stateName}' of {grainId}, provider '{_name}')";

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string blob = BlobNameOf(stateName, grainId);
        var got = await _store.GetBytesAsync(blob).ConfigureAwait(false);
        if (got is not { } found)
        {
            grainState.State = NewState<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
            return;
        }
        string where = Where(blob, stateName, grainId);
        var payload = GrainStateEnvelope.Unwrap(found.Bytes, where);
        try
        {
            grainState.State = _serializer.Deserialize<T>(payload);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{where}: cannot deserialize {payload.Length} bytes as {typeof(T).Name}: {e.Message}", e);
        }
        grainState.ETag = found.Properties.ETag;
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string blob = BlobNameOf(stateName, grainId);
        var bytes = GrainStateEnvelope.Wrap(_serializer.Serialize(grainState.State).ToMemory().Span);
        var condition = grainState.ETag is { Length: > 0 } etag ? BlobWriteCondition.IfMatch(etag) : BlobWriteCondition.CreateOnly;
        try
        {
            var written = await _store.PutBytesAsync(blob, bytes, condition).ConfigureAwait(false);
            grainState.ETag = written.ETag;
            grainState.RecordExists = true;
        }
        catch (BlobConflictException e)
        {
            throw await InconsistentAsync("write", blob, stateName, grainId, grainState.ETag, e).ConfigureAwait(false);
        }
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string blob = BlobNameOf(stateName, grainId);
        if (grainState.ETag is { Length: > 0 } etag)
        {
            try
            {
                await _store.DeleteAsync(blob, etag).ConfigureAwait(false);
            }
            catch (BlobConflictException e)
            {
                throw await InconsistentAsync("clear", blob, stateName, grainId, etag, e).ConfigureAwait(false);
            }
        }
        else if (await _store.GetBytesAsync(blob).ConfigureAwait(false) is { } stored)
        {
            // This activation believes there is no record, yet another one wrote it: clearing would destroy its state.
            throw new InconsistentStateException(
                $"{Where(blob, stateName, grainId)}: clear refused: the grain holds no ETag but the store has version {stored.Properties.ETag}",
                stored.Properties.ETag, "(none)");
        }
        grainState.State = NewState<T>();
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    async Task<InconsistentStateException> InconsistentAsync(string operation, string blob, string stateName, GrainId grainId, string? expected, BlobConflictException e)
    {
        // The stored version, for the message and for Orleans' StoredEtag (best effort: it may change again meanwhile).
        string stored = "(unknown)";
        try
        {
            stored = (await _store.GetBytesAsync(blob).ConfigureAwait(false))?.Properties.ETag ?? "(none: no blob)";
        }
        catch (Exception readError) when (readError is IOException or Azure.RequestFailedException)
        {
            _log.LogDebug(readError, "could not read the stored ETag of {Blob}", blob);
        }
        _log.LogWarning("{Where}: {Operation} refused: expected ETag {Expected}, stored {Stored}", Where(blob, stateName, grainId), operation, expected ?? "(none)", stored);
        return new InconsistentStateException(
            $"{Where(blob, stateName, grainId)}: {operation} refused: the grain expected ETag {expected ?? "(none: new record)"}, the store has {stored}",
            stored, expected ?? "(none)", e);
    }

    static T NewState<T>() =>
        typeof(T).IsValueType || typeof(T).GetConstructor(Type.EmptyTypes) is not null ? Activator.CreateInstance<T>() : default!;
}
