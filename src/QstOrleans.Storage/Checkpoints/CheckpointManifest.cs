using System.Text.Json;
using System.Text.Json.Serialization;

namespace QstOrleans.Storage.Checkpoints;

/// <summary>One blob of a checkpoint: its logical name (<c>side_model.safetensors</c>), the blob it is stored in, size and SHA-256 (hex).</summary>
public sealed record CheckpointBlob(string Name, string Blob, long Size, string Sha256);

/// <summary>
/// <c>manifest.json</c>: the commit record of one checkpoint. A checkpoint exists exactly when its manifest does;
/// the data blobs it lists were written (and checksummed) before it.
/// </summary>
public sealed record CheckpointManifest(string Format, long Step, string Attempt, DateTimeOffset CreatedUtc, IReadOnlyList<CheckpointBlob> Blobs)
{
    public const string FormatName = "qst-checkpoint/1";

    /// <summary>Total bytes of the data blobs.</summary>
    [JsonIgnore]
    public long TotalBytes => Blobs.Sum(b => b.Size);

    /// <summary>The entry named <paramref name="name"/>, or null.</summary>
    public CheckpointBlob? Find(string name) => Blobs.FirstOrDefault(b => b.Name == name);

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, CheckpointJson.Options);

    /// <summary>Parses and checks a manifest read from <paramref name="source"/>.</summary>
    /// <exception cref="CheckpointCorruptException">Not JSON, another format, or fields that do not fit <paramref name="expectedStep"/>.</exception>
    public static CheckpointManifest Parse(byte[] json, string source, long expectedStep)
    {
        CheckpointManifest? m;
        try { m = JsonSerializer.Deserialize<CheckpointManifest>(json, CheckpointJson.Options); }
        catch (JsonException e) { throw new CheckpointCorruptException(expectedStep, $"{source}: manifest is not valid JSON ({e.Message})", e); }
        if (m is null || m.Format != FormatName)
            throw new CheckpointCorruptException(expectedStep, $"{source}: manifest format is '{m?.Format}', expected '{FormatName}'");
        if (m.Step != expectedStep)
            throw new CheckpointCorruptException(expectedStep, $"{source}: manifest says step {m.Step}, its name says {expectedStep}");
        if (m.Blobs is null || m.Blobs.Count == 0 || m.Blobs.Any(b => b is null || b.Blob is null || b.Sha256 is null || b.Size < 0))
            throw new CheckpointCorruptException(expectedStep, $"{source}: manifest has no blobs or an incomplete blob entry");
        return m;
    }
}

/// <summary><c>latest</c>: which checkpoint was committed last, and the SHA-256 of its manifest.</summary>
public sealed record CheckpointPointer(long Step, string Manifest, string ManifestSha256)
{
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, CheckpointJson.Options);

    /// <summary>Null when the bytes are not a pointer (the caller warns).</summary>
    public static CheckpointPointer? TryParse(byte[] json)
    {
        try
        {
            var p = JsonSerializer.Deserialize<CheckpointPointer>(json, CheckpointJson.Options);
            return p is { Manifest: not null, ManifestSha256: not null } && p.Step >= 0 ? p : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

static class CheckpointJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };
}
