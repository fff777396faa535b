using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace QstOrleans.Grains.Inputs;

/// <summary>
/// One dataset upload (key = the client's upload id): the chunks go, in order and each checked against its SHA-256, into a
/// silo-local temp file (<c>{temp}/qst-upload-*/</c>, swept at startup if a silo dies mid-upload); <see cref="Commit"/>
/// checks the whole file's SHA-256 and hands it to <see cref="StoredDatasets.CommitAsync"/>. Any refusal drops what was
/// received, so a bad or aborted upload never becomes visible; an interrupted one can be continued by the same request (the
/// client names the upload by its content, <see cref="IDatasetUploadGrain.KeyOf"/>). A file of a model upload
/// (<see cref="DatasetUploadRequest.Model"/>) goes to <see cref="StoredModels.CommitAsync"/> instead. The grain is not
/// reentrant: chunks arrive one at a time.
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
        string location = await datasets.LocationAsync();
        if (_request == request && _file is not null)   // the same upload again after an interruption: continue where it stopped
        {
            log.LogInformation("upload {Upload}: {Name} resumed at chunk {Index}, byte {Bytes} of {Size}", UploadId, request.Name, _nextIndex, _received, request.Size);
            return new DatasetUploadStart(UriOf(request), AlreadyStored: false, location, _received, _nextIndex);
        }
        Drop();
        if (StoreUris.SafeName(request.Name) != request.Name)
            throw new ArgumentException($"upload '{UploadId}': file name '{request.Name}' must be one segment of [A-Za-z0-9._-] not starting with '.' (e.g. '{StoreUris.SafeName(request.Name)}')");
        if (!StoreUris.IsSha256(request.Sha256))
            throw new ArgumentException($"upload '{UploadId}' of '{request.Name}': the file's SHA-256 must be 64 lower-case hex digits, got '{request.Sha256}'");
        CheckSize(request);
        string uri = UriOf(request);
        if (await StoredLength(request) == request.Size)
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
            string file = Path.Combine(_folder!, request.Name);
            string uri = request.Model is { } model
                ? await datasets.Models.CommitAsync(file, model, request.Name)
                : await datasets.CommitAsync(file, request.Sha256, request.Name);
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

    public async Task<bool> SeesModel(string directory, string manifest)
    {
        DeactivateOnIdle();
        return await Task.Run(() =>
        {
            try { datasets.Guard.CheckModelDirectory(directory); }
            catch (ArgumentException) { return false; }   // outside the roots, missing, a bad entry
            var real = RealPath.Of(directory);
            var entries = ModelManifest.Parse(manifest, $"model (--model) '{directory}'");
            var names = Directory.EnumerateFiles(real).Select(Path.GetFileName).Where(n => !n!.StartsWith('.')).ToHashSet(StringComparer.Ordinal);
            if (!names.SetEquals(entries.Select(e => e.Name))) return false;
            return entries.All(e =>
            {
                string path = Path.Combine(real, e.Name);
                if (new FileInfo(path).Length != e.Size) return false;
                using var stream = File.OpenRead(path);
                return StoreUris.Hex(SHA256.HashData(stream)) == e.Sha256;
            });
        });
    }

    /// <summary>Datasets: the data cap. Model files: a JSON file under the model JSON cap, and the manifest is the model's id.</summary>
    void CheckSize(DatasetUploadRequest request)
    {
        var roots = datasets.Roots;
        if (request.Model is not { } model)
        {
            if (request.Size < 0 || request.Size > roots.MaxDataFileBytes)
                throw new InputRefusedException("data file (--data)", request.Name,
                    $"is {request.Size} bytes, more than the silo's cap of {roots.MaxDataFileBytes} (Qst:Roots:MaxDataFileBytes)");
            return;
        }
        if (!StoreUris.IsSha256(model))
            throw new ArgumentException($"upload '{UploadId}' of '{request.Name}': the model id must be its manifest's SHA-256 (64 lower-case hex digits), got '{model}'");
        if (request.Name == ModelManifest.FileName && request.Sha256 != model)
            throw new ArgumentException($"upload '{UploadId}': the manifest's SHA-256 {Short(request.Sha256)}… is not the model id {Short(model)}…");
        if (request.Size < 0 || (request.Name.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && request.Size > roots.MaxModelJsonBytes))
            throw new InputRefusedException("model (--model)", request.Name, $"is {request.Size} bytes, more than the silo's cap of {roots.MaxModelJsonBytes} for JSON files (Qst:Roots:MaxModelJsonBytes)");
    }

    static string UriOf(DatasetUploadRequest request) =>
        request.Model is { } model ? StoreUris.ForModel(model) : StoreUris.ForDataset(request.Sha256, request.Name);

    Task<long?> StoredLength(DatasetUploadRequest request) =>
        request.Model is { } model ? datasets.Models.LengthAsync(model, request.Name) : datasets.LengthAsync(request.Sha256, request.Name);

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
