using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Storage.Checkpoints;

/// <summary>How many checkpoints to keep, and what to do with a corrupt one.</summary>
/// <param name="KeepLast">Committed checkpoints kept (≥ 1); older ones are deleted after a newer commit.</param>
/// <param name="QuarantineCorrupt">When a load finds a checkpoint corrupt, copy its manifest to <c>quarantine/</c> and
/// remove it, so the run can commit that step again later (committed blobs are never overwritten in place).</param>
public sealed record CheckpointStoreOptions(int KeepLast = 3, bool QuarantineCorrupt = true);

/// <summary>A checkpoint loaded and verified into a local folder, plus the warnings of any fallback on the way.</summary>
public sealed record LoadedCheckpoint(CheckpointManifest Manifest, string Directory, IReadOnlyList<string> Warnings)
{
    public long Step => Manifest.Step;
    public string PathOf(string name) => Path.Combine(Directory, name);
}

/// <summary>
/// Atomic, checksummed, rotated training checkpoints on an <see cref="IBlobStore"/>, under a name prefix (one per job).
/// </summary>
/// <remarks>
/// <para>Layout under prefix P (steps zero-padded to 12 digits so names sort by step):</para>
/// <code>
/// P/000000000042/3f9c0a1b2c3d/side_model.safetensors   data blobs of one write attempt (create-only)
/// P/000000000042/manifest.json                         the commit record: names, sizes, SHA-256 (create-only)
/// P/latest                                             {step, manifest, manifest_sha256} (If-Match / create-only)
/// P/quarantine/000000000042-3f9c0a1b2c3d.json          manifests found corrupt, kept for inspection
/// </code>
/// <para>Commit order: data, then manifest, then pointer. A checkpoint exists exactly when its manifest does, so a
/// writer stopped at any point leaves either nothing visible or a complete checkpoint. Each attempt writes its data
/// under its own random folder, so two writers of the same step (a duplicate grain activation) never mix blobs:
/// the manifest's create-only write picks one; the other gets <see cref="CheckpointConflictException"/>. The pointer
/// is the writers' serialization point (conditional on the ETag read before the commit) and a cross-check of the
/// newest manifest's checksum. Steps are monotonic: a commit at or below the newest committed step is refused.</para>
/// <para>Loads verify every blob's size and SHA-256 while copying it. <see cref="LoadLatestValidAsync"/> walks the
/// committed steps from the newest and falls back past corrupt or half-deleted ones with a logged warning.</para>
/// <para>Rotation runs only after the new pointer is committed: it deletes the manifest of each checkpoint beyond
/// <see cref="CheckpointStoreOptions.KeepLast"/> before its data, and removes data of abandoned attempts in step
/// folders below the new step. Rotation errors are logged, never thrown (the commit already succeeded).</para>
/// <para>Throws <see cref="CheckpointConflictException"/> (step exists, not after the newest, or lost the pointer race),
/// <see cref="CheckpointCorruptException"/> (a load that cannot be verified, or every stored checkpoint unusable),
/// <see cref="ArgumentException"/> for bad part names; transport errors of the blob store propagate.</para>
/// </remarks>
public sealed class CheckpointStore
{
    public const string ManifestName = "manifest.json";
    public const string PointerName = "latest";
    const string QuarantineFolder = "quarantine";

    readonly IBlobStore _blobs;
    readonly string _prefix;
    readonly ILogger _log;

    public CheckpointStore(IBlobStore blobs, string prefix, CheckpointStoreOptions? options = null, ILogger? logger = null)
    {
        _blobs = blobs;
        _prefix = prefix.Trim('/');
        if (_prefix.Length > 0) BlobNames.Validate(_prefix);
        Options = options ?? new CheckpointStoreOptions();
        if (Options.KeepLast < 1) throw new ArgumentOutOfRangeException(nameof(options), $"KeepLast is {Options.KeepLast}; keep at least 1 checkpoint");
        _log = logger ?? NullLogger.Instance;
    }

    public CheckpointStoreOptions Options { get; }

    /// <summary>For messages: the blob store location and prefix.</summary>
    public string Location => $"{_blobs.Location}/{_prefix}";

    /// <summary>A store of its own under <c>{prefix}/{name}</c> on the same blobs (a job's result beside its checkpoints). The
    /// two never see each other's checkpoints: this store's step folders sit right under its prefix, the nested store's one level deeper.</summary>
    public CheckpointStore Nested(string name) => new(_blobs, Name(BlobNames.Validate(name)), Options, _log);

    string Name(string relative) => _prefix.Length == 0 ? relative : $"{_prefix}/{relative}";
    static string StepFolder(long step) => step.ToString("D12", CultureInfo.InvariantCulture);
    string ManifestBlob(long step) => Name($"{StepFolder(step)}/{ManifestName}");

    // ---------------------------------------------------------------- commit

    /// <summary>Writes <paramref name="parts"/> as checkpoint <paramref name="step"/> and makes it the latest.</summary>
    /// <returns>The committed manifest.</returns>
    public async Task<CheckpointManifest> CommitAsync(long step, IReadOnlyList<CheckpointPart> parts, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        CheckParts(parts);
        var (pointer, pointerETag) = await ReadPointerAsync(warn: false, cancellationToken).ConfigureAwait(false);
        var steps = await ListStepsAsync(cancellationToken).ConfigureAwait(false);
        if (steps.Contains(step))
            throw new CheckpointConflictException(step, $"{Location}: checkpoint step {step} is already committed; committed checkpoints are never overwritten");
        if (steps.Count > 0 && steps[^1] > step)
            throw new CheckpointConflictException(step, $"{Location}: step {step} is not after the newest committed step {steps[^1]} (checkpoint ids are monotonic)");

        string attempt = Guid.NewGuid().ToString("N")[..12];
        var entries = new List<CheckpointBlob>(parts.Count);
        CheckpointManifest manifest;
        byte[] manifestJson;
        try
        {
            foreach (var part in parts)
            {
                string blob = Name($"{StepFolder(step)}/{attempt}/{part.Name}");
                await using var source = part.Open();
                await using var hashing = new HashingStream(source, forWriting: false);
                await _blobs.PutAsync(blob, hashing, BlobWriteCondition.CreateOnly, cancellationToken).ConfigureAwait(false);
                entries.Add(new CheckpointBlob(part.Name, blob, hashing.Count, hashing.Sha256()));
            }
            manifest = new CheckpointManifest(CheckpointManifest.FormatName, step, attempt, DateTimeOffset.UtcNow, entries);
            manifestJson = manifest.ToJson();
            try
            {
                await _blobs.PutBytesAsync(ManifestBlob(step), manifestJson, BlobWriteCondition.CreateOnly, cancellationToken).ConfigureAwait(false);
            }
            catch (BlobConflictException e)
            {
                throw new CheckpointConflictException(step, $"{Location}: another writer committed step {step} first", e);
            }
        }
        catch
        {
            // Nothing is visible without the manifest; removing the attempt's blobs only saves space (rotation would too).
            foreach (var e in entries) await TryDeleteAsync(e.Blob).ConfigureAwait(false);
            throw;
        }

        await AdvancePointerAsync(new CheckpointPointer(step, ManifestBlob(step), Sha256Hex(manifestJson)), pointer, pointerETag, cancellationToken)
            .ConfigureAwait(false);
        try
        {
            await RotateAsync(step, manifest, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _log.LogWarning(e, "{Location}: checkpoint {Step} committed, but deleting old checkpoints failed: {Message}", Location, step, e.Message);
        }
        _log.LogInformation("{Location}: committed checkpoint {Step} ({Bytes} bytes in {Count} blobs)", Location, step, manifest.TotalBytes, entries.Count);
        return manifest;
    }

    static void CheckParts(IReadOnlyList<CheckpointPart> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("a checkpoint needs at least one part", nameof(parts));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in parts)
        {
            BlobNames.Validate(p.Name);
            if (p.Name.Contains('/') || p.Name == ManifestName)
                throw new ArgumentException($"checkpoint part name '{p.Name}' must be one path segment other than '{ManifestName}'", nameof(parts));
            if (!seen.Add(p.Name)) throw new ArgumentException($"checkpoint part '{p.Name}' given twice", nameof(parts));
        }
    }

    async Task AdvancePointerAsync(CheckpointPointer next, CheckpointPointer? current, string? etag, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            var condition = etag is null ? BlobWriteCondition.CreateOnly : BlobWriteCondition.IfMatch(etag);
            try
            {
                await _blobs.PutBytesAsync(Name(PointerName), next.ToJson(), condition, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (BlobConflictException e)
            {
                // Someone else wrote the pointer since we read it. Moving it forward is still right unless they are ahead.
                (current, etag) = await ReadPointerAsync(warn: false, cancellationToken).ConfigureAwait(false);
                if (current is not null && current.Step >= next.Step || attempt >= 4)
                    throw new CheckpointConflictException(next.Step,
                        $"{Location}: checkpoint {next.Step} was committed, but another writer moved '{PointerName}' to step {current?.Step} " +
                        "(is a second trainer writing this job's checkpoints?)", e);
            }
        }
    }

    // ---------------------------------------------------------------- listing

    /// <summary>Steps with a committed manifest, ascending (whether or not their data is intact).</summary>
    public async Task<IReadOnlyList<long>> ListStepsAsync(CancellationToken cancellationToken = default)
    {
        var steps = new List<long>();
        foreach (var item in await _blobs.ListAsync(Name(""), cancellationToken).ConfigureAwait(false))
            if (TryParseStep(item.Name, out long step, out string rest) && rest == ManifestName)
                steps.Add(step);
        steps.Sort();
        return steps;
    }

    /// <summary>Steps whose manifests a load found corrupt and moved to <c>quarantine/</c>, ascending (a step may appear
    /// twice). They were committed once: evidence that this is the store the job wrote to.</summary>
    public async Task<IReadOnlyList<long>> ListQuarantinedStepsAsync(CancellationToken cancellationToken = default)
    {
        var steps = new List<long>();
        string folder = Name(QuarantineFolder + "/");
        foreach (var item in await _blobs.ListAsync(folder, cancellationToken).ConfigureAwait(false))
        {
            var name = item.Name.AsSpan(folder.Length);   // 000000000042-3f9c0a1b2c3d.json
            if (name.Length > 12 && name[12] == '-' && long.TryParse(name[..12], NumberStyles.None, CultureInfo.InvariantCulture, out long step))
                steps.Add(step);
        }
        steps.Sort();
        return steps;
    }

    /// <summary>The manifest of <paramref name="step"/>, or null when there is none.</summary>
    /// <exception cref="CheckpointCorruptException">The manifest exists but is unreadable.</exception>
    public async Task<CheckpointManifest?> ReadManifestAsync(long step, CancellationToken cancellationToken = default)
    {
        var got = await _blobs.GetBytesAsync(ManifestBlob(step), cancellationToken).ConfigureAwait(false);
        return got is null ? null : CheckpointManifest.Parse(got.Value.Bytes, $"{_blobs.Location}/{ManifestBlob(step)}", step);
    }

    /// <summary>The <c>latest</c> pointer, or null when absent or unreadable.</summary>
    public async Task<CheckpointPointer?> ReadPointerAsync(CancellationToken cancellationToken = default) =>
        (await ReadPointerAsync(warn: true, cancellationToken).ConfigureAwait(false)).Pointer;

    async Task<(CheckpointPointer? Pointer, string? ETag)> ReadPointerAsync(bool warn, CancellationToken cancellationToken)
    {
        var got = await _blobs.GetBytesAsync(Name(PointerName), cancellationToken).ConfigureAwait(false);
        if (got is null) return (null, null);
        var pointer = CheckpointPointer.TryParse(got.Value.Bytes);
        if (pointer is null && warn) _log.LogWarning("{Location}: '{Pointer}' is unreadable; using the stored manifests instead", Location, PointerName);
        return (pointer, got.Value.Properties.ETag);
    }

    bool TryParseStep(string blobName, out long step, out string rest)
    {
        step = -1;
        rest = "";
        string prefix = Name("");
        if (!blobName.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var relative = blobName.AsSpan(prefix.Length);
        int slash = relative.IndexOf('/');
        if (slash != 12 || !long.TryParse(relative[..12], NumberStyles.None, CultureInfo.InvariantCulture, out step)) return false;
        rest = relative[(slash + 1)..].ToString();
        return true;
    }

    // ---------------------------------------------------------------- loading

    /// <summary>Copies checkpoint <paramref name="step"/> into <paramref name="directory"/> (one file per part), verifying every blob.</summary>
    /// <exception cref="KeyNotFoundException">No checkpoint at that step.</exception>
    /// <exception cref="CheckpointCorruptException">A blob is missing, truncated or has another checksum; the manifest is unreadable.</exception>
    public async Task<CheckpointManifest> LoadAsync(long step, string directory, CancellationToken cancellationToken = default) =>
        await LoadVerifiedAsync(step, directory, null, cancellationToken).ConfigureAwait(false)
        ?? throw new KeyNotFoundException($"{Location}: no checkpoint at step {step}");

    async Task<CheckpointManifest?> LoadVerifiedAsync(long step, string directory, string? manifestSha256, CancellationToken cancellationToken)
    {
        string manifestBlob = ManifestBlob(step);
        var got = await _blobs.GetBytesAsync(manifestBlob, cancellationToken).ConfigureAwait(false);
        if (got is null) return null;
        if (manifestSha256 is not null && Sha256Hex(got.Value.Bytes) != manifestSha256)
            throw new CheckpointCorruptException(step, $"{_blobs.Location}/{manifestBlob}: SHA-256 differs from the one recorded in '{PointerName}'");
        var manifest = CheckpointManifest.Parse(got.Value.Bytes, $"{_blobs.Location}/{manifestBlob}", step);

        Directory.CreateDirectory(directory);
        foreach (var entry in manifest.Blobs)
        {
            // A damaged manifest must not make us write outside the folder.
            if (entry.Name.Contains('/') || entry.Name.Contains('\\') || entry.Name.StartsWith('.'))
                throw new CheckpointCorruptException(step, $"{_blobs.Location}/{manifestBlob}: bad part name '{entry.Name}'");
            string target = Path.Combine(directory, entry.Name);
            string partial = Path.Combine(directory, $".{entry.Name}.partial");
            try
            {
                BlobProperties? props;
                string sha;
                long count;
                await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                await using (var hashing = new HashingStream(file, forWriting: true))
                {
                    props = await _blobs.GetAsync(entry.Blob, hashing, cancellationToken).ConfigureAwait(false);
                    count = hashing.Count;
                    sha = hashing.Sha256();
                }
                string where = $"{_blobs.Location}/{entry.Blob}";
                if (props is null)
                    throw new CheckpointCorruptException(step, $"{where}: blob '{entry.Name}' is missing");
                if (count != entry.Size)
                    throw new CheckpointCorruptException(step, $"{where}: blob '{entry.Name}' has {count} bytes, the manifest says {entry.Size} (truncated?)");
                if (sha != entry.Sha256)
                    throw new CheckpointCorruptException(step, $"{where}: blob '{entry.Name}' SHA-256 {sha[..16]}… differs from the manifest's {entry.Sha256[..Math.Min(16, entry.Sha256.Length)]}…");
                File.Move(partial, target, overwrite: true);
            }
            finally
            {
                if (File.Exists(partial)) File.Delete(partial);
            }
        }
        return manifest;
    }

    /// <summary>
    /// Loads the newest committed checkpoint that verifies into <paramref name="directory"/>. Corrupt or half-written
    /// ones (missing blob, checksum or size mismatch, unreadable manifest) are skipped with a logged warning (and
    /// quarantined, see <see cref="CheckpointStoreOptions.QuarantineCorrupt"/>).
    /// </summary>
    /// <returns>The checkpoint, or null when the store holds none.</returns>
    /// <exception cref="CheckpointCorruptException">Checkpoints exist but none verifies.</exception>
    public async Task<LoadedCheckpoint?> LoadLatestValidAsync(string directory, CancellationToken cancellationToken = default)
    {
        var warnings = new List<string>();
        void Warn(string message)
        {
            warnings.Add(message);
            _log.LogWarning("{Message}", message);
        }

        var (pointer, _) = await ReadPointerAsync(warn: false, cancellationToken).ConfigureAwait(false);
        var steps = await ListStepsAsync(cancellationToken).ConfigureAwait(false);
        if (pointer is null && steps.Count > 0 && await _blobs.GetBytesAsync(Name(PointerName), cancellationToken).ConfigureAwait(false) is not null)
            Warn($"{Location}: '{PointerName}' is unreadable; using the stored manifests instead");
        if (pointer is not null && !steps.Contains(pointer.Step))
            Warn($"{Location}: '{PointerName}' names checkpoint {pointer.Step}, whose manifest is missing");

        for (int i = steps.Count - 1; i >= 0; i--)
        {
            long step = steps[i];
            try
            {
                string? expectedSha = pointer?.Step == step ? pointer.ManifestSha256 : null;
                var manifest = await LoadVerifiedAsync(step, directory, expectedSha, cancellationToken).ConfigureAwait(false);
                if (manifest is null)
                {
                    Warn($"{Location}: checkpoint {step} vanished while loading (deleted by rotation?); trying the previous one");
                    continue;
                }
                if (pointer is not null && step > pointer.Step)
                    _log.LogInformation("{Location}: checkpoint {Step} is newer than '{Pointer}' ({PointerStep}): its writer stopped before moving the pointer",
                        Location, step, PointerName, pointer.Step);
                return new LoadedCheckpoint(manifest, directory, warnings);
            }
            catch (CheckpointCorruptException e)
            {
                Warn($"{Location}: checkpoint {step} is unusable: {e.Message}; " +
                     (i > 0 ? $"falling back to checkpoint {steps[i - 1]}" : "no older checkpoint is left"));
                if (Options.QuarantineCorrupt) await QuarantineAsync(step, cancellationToken).ConfigureAwait(false);
            }
        }
        if (steps.Count == 0 && pointer is null) return null;
        throw new CheckpointCorruptException(-1, steps.Count == 0
            ? $"{Location}: '{PointerName}' names checkpoint {pointer!.Step} but no checkpoint is stored"
            : $"{Location}: none of the {steps.Count} stored checkpoints verifies: {string.Join(" | ", warnings)}");
    }

    /// <summary>Moves a corrupt checkpoint's manifest aside so its step can be committed again.</summary>
    async Task QuarantineAsync(long step, CancellationToken cancellationToken)
    {
        try
        {
            var got = await _blobs.GetBytesAsync(ManifestBlob(step), cancellationToken).ConfigureAwait(false);
            if (got is null) return;
            string copy = Name($"{QuarantineFolder}/{StepFolder(step)}-{Guid.NewGuid().ToString("N")[..12]}.json");
            await _blobs.PutBytesAsync(copy, got.Value.Bytes, BlobWriteCondition.CreateOnly, cancellationToken).ConfigureAwait(false);
            // If-Match: only the version we judged corrupt is removed.
            await _blobs.DeleteAsync(ManifestBlob(step), got.Value.Properties.ETag, cancellationToken).ConfigureAwait(false);
            _log.LogWarning("{Location}: corrupt checkpoint {Step} moved to {Copy}", Location, step, copy);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _log.LogWarning(e, "{Location}: could not quarantine corrupt checkpoint {Step}: {Message}", Location, step, e.Message);
        }
    }

    // ---------------------------------------------------------------- rotation

    async Task RotateAsync(long committed, CheckpointManifest committedManifest, CancellationToken cancellationToken)
    {
        var steps = await ListStepsAsync(cancellationToken).ConfigureAwait(false);
        var keep = steps.Where(s => s <= committed).OrderDescending().Take(Options.KeepLast).ToHashSet();
        // Manifest first: once it is gone the checkpoint is invisible, so a reader never sees one with data missing
        // (a reader already past the manifest gets a missing-blob error and falls back).
        foreach (long old in steps.Where(s => s < committed && !keep.Contains(s)))
            await _blobs.DeleteAsync(ManifestBlob(old), cancellationToken: cancellationToken).ConfigureAwait(false);

        var referenced = new HashSet<string>(committedManifest.Blobs.Select(b => b.Blob), StringComparer.Ordinal);
        var unreadable = new HashSet<long>();
        foreach (long s in keep.Where(s => s != committed))
        {
            try
            {
                var m = await ReadManifestAsync(s, cancellationToken).ConfigureAwait(false);
                if (m is not null) referenced.UnionWith(m.Blobs.Select(b => b.Blob));
            }
            catch (CheckpointCorruptException)
            {
                unreadable.Add(s);   // leave its folder alone; a load will report and quarantine it
            }
        }
        // Data below the new step that no kept manifest references: dropped checkpoints and abandoned attempts. Folders
        // at or above it are left alone: another writer may be working there.
        foreach (var item in await _blobs.ListAsync(Name(""), cancellationToken).ConfigureAwait(false))
        {
            if (!TryParseStep(item.Name, out long s, out string rest) || s >= committed || rest == ManifestName) continue;
            if (referenced.Contains(item.Name)) continue;
            if (unreadable.Contains(s)) continue;
            await _blobs.DeleteAsync(item.Name, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    async Task TryDeleteAsync(string blob)
    {
        try { await _blobs.DeleteAsync(blob).ConfigureAwait(false); }
        catch (Exception e) { _log.LogDebug(e, "could not delete {Blob}", blob); }
    }

    static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
