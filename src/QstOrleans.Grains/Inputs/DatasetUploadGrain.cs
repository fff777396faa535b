using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace QstOrleans.Grains.Inputs;

/// <summary>
/// One dataset upload (key = the client's upload id): the chunks go, in order and each checked against its SHA-256, into a
/// silo-local temp file (<c>{temp}/qst-upload-*/</c>, swept at startup if a silo dies mid-upload); <see cref="Commit"/>
/// checks the whole file's SHA-256 and hands it to <see cref="StoredDatasets.CommitAsync"/>. Any refusal drops what was
/// received, so a bad or interrupted upload never becomes visible. The grain is not reentrant: chunks arrive one at a time.
/// </summary>
public sealed class DatasetUploadGrain(StoredDatasets datasets, ILogger<DatasetUploadGrain> log) : Grain, IDatasetUploadGrain
{
    DatasetUploadRequest? _request;
    string? _folder;
    FileStream? _file;
    IncrementalHash? _sha;
    long _received;
    int _nextIndex;

    string UploadId => this.GetPrimaryKeyString();

    public async Task<DatasetUploadStart> Begin(DatasetUploadRequest request)
    {
        Drop();
        if (StoreUris.SafeName(request.Name) != request.Name)
            throw new ArgumentException($"upload '{UploadId}': dataset name '{request.Name}' must be one segment of [A-Za-z0-9._-] not starting with '.' (e.g. '{StoreUris.SafeName(request.Name)}')");
        if (!StoreUris.IsSha256(request.Sha256))
            throw new ArgumentException($"upload '{UploadId}' of '{request.Name}': the file's SHA-256 must be 64 lower-case hex digits, got '{request.Sha256}'");
        if (request.Size < 0 || request.Size > datasets.Roots.MaxDataFileBytes)
            throw new InputRefusedException("data file (--data)", request.Name,
                $"is {request.Size} bytes, more than the silo's cap of {datasets.Roots.MaxDataFileBytes} (Qst:Roots:MaxDataFileBytes)");
        string uri = StoreUris.ForDataset(request.Sha256, request.Name), location = await datasets.LocationAsync();
        if (await datasets.LengthAsync(request.Sha256, request.Name) == request.Size)
        {
            DeactivateOnIdle();
            return new DatasetUploadStart(uri, AlreadyStored: true, location);
        }
        _folder = Path.Combine(Path.GetTempPath(), $"qst-upload-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_folder);
        _file = new FileStream(Path.Combine(_folder, request.Name), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
        _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        (_request, _received, _nextIndex) = (request, 0, 0);
        return new DatasetUploadStart(uri, AlreadyStored: false, location);
    }

    public async Task Append(int index, long offset, byte[] bytes, string sha256)
    {
        var request = Current();
        string chunk = $"chunk {index} (bytes {offset}..{offset + bytes.Length}) of upload '{UploadId}' ({request.Name})";
        string? problem =
            index != _nextIndex || offset != _received ? $"{chunk} is out of order: expected chunk {_nextIndex} at byte {_received}"
            : bytes.Length is 0 or > IDatasetUploadGrain.MaxChunkBytes ? $"{chunk} has {bytes.Length} bytes; send 1 to {IDatasetUploadGrain.MaxChunkBytes}"
            : _received + bytes.Length > request.Size ? $"{chunk} goes past the declared size of {request.Size} bytes"
            : StoreUris.Hex(SHA256.HashData(bytes)) is var actual && actual != sha256 ? $"{chunk} has SHA-256 {actual[..16]}…, the client sent {Short(sha256)}…"
            : null;
        if (problem is not null) Refuse(problem);
        await _file!.WriteAsync(bytes);
        _sha!.AppendData(bytes);
        (_received, _nextIndex) = (_received + bytes.Length, _nextIndex + 1);
    }

    public async Task<string> Commit()
    {
        var request = Current();
        if (_received != request.Size) Refuse($"upload '{UploadId}' ({request.Name}) received {_received} of {request.Size} bytes; nothing was stored");
        string actual = StoreUris.Hex(_sha!.GetHashAndReset());
        if (actual != request.Sha256) Refuse($"upload '{UploadId}' ({request.Name}): the whole file has SHA-256 {actual[..16]}…, the client declared {Short(request.Sha256)}…; nothing was stored");
        await _file!.FlushAsync();
        await _file.DisposeAsync();
        _file = null;
        try
        {
            string uri = await datasets.CommitAsync(Path.Combine(_folder!, request.Name), request.Sha256, request.Name);
            log.LogInformation("upload {Upload}: {Name} ({Bytes} bytes) committed as {Uri}", UploadId, request.Name, request.Size, uri);
            return uri;
        }
        finally
        {
            Drop();
            DeactivateOnIdle();
        }
    }

    public Task Abort()
    {
        Drop();
        DeactivateOnIdle();
        return Task.CompletedTask;
    }

    public async Task<bool> Sees(string path, long size, string sha256)
    {
        DeactivateOnIdle();   // a probe activation holds nothing
        return await Task.Run(() => SeesOnDisk(path, size, sha256));
    }

    bool SeesOnDisk(string path, long size, string sha256)
    {
        try { datasets.Guard.CheckDataFile(path); }
        catch (ArgumentException) { return false; }   // outside the roots, missing, not a regular file, over a cap
        var real = RealPath.Of(path);
        if (new FileInfo(real).Length != size) return false;
        using var stream = File.OpenRead(real);
        return StoreUris.Hex(SHA256.HashData(stream)) == sha256;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken token)
    {
        Drop();
        return Task.CompletedTask;
    }

    DatasetUploadRequest Current() => _request ?? throw new InvalidOperationException(
        $"upload '{UploadId}' is not in progress on this silo (never begun, already ended or refused, or its silo restarted): begin it again");

    /// <summary>Drops what was received and throws: a refused upload cannot be continued.</summary>
    void Refuse(string message)
    {
        Drop();
        DeactivateOnIdle();
        throw new InvalidDataException(message);
    }

    void Drop()
    {
        _file?.Dispose();
        _sha?.Dispose();
        (_file, _sha, _request, _received, _nextIndex) = (null, null, null, 0, 0);
        if (_folder is { } folder)
        {
            try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); } catch (IOException) { }
            _folder = null;
        }
    }

    static string Short(string hex) => hex[..Math.Min(16, hex.Length)];
}
