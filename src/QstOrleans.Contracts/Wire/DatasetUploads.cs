using System.Globalization;

namespace QstOrleans.Contracts.Wire;

/// <summary>
/// Names of datasets kept in the cluster's own store (the checkpoint store, <c>Qst:Checkpoints</c>: a local directory or
/// an Azure container). One scheme: <c>store:datasets/{sha256}/{name}</c>, where <c>sha256</c> is the SHA-256 of the
/// file's bytes (64 lower-case hex digits) and <c>name</c> one blob-name segment (<c>[A-Za-z0-9._-]</c>, not starting
/// with '.'). A job accepts such a URI wherever it accepts a data path (<see cref="JobSpec.DataFile"/>); the silo that plans
/// the job copies the blob into a local cache file keyed by the hash and reads that.
/// </summary>
public static class StoreUris
{
    /// <summary>The scheme prefix.</summary>
    public const string Scheme = "store:";

    /// <summary>The store folder that holds uploaded datasets.</summary>
    public const string DatasetsFolder = "datasets";

    /// <summary>True when <paramref name="path"/> names a blob of the cluster's store rather than a file.</summary>
    public static bool IsStoreUri(string? path) => path is not null && path.StartsWith(Scheme, StringComparison.Ordinal);

    /// <summary>The URI of a dataset with content hash <paramref name="sha256"/> stored as <paramref name="name"/>.</summary>
    public static string ForDataset(string sha256, string name) => $"{Scheme}{BlobOf(sha256, name)}";

    /// <summary>The blob name (without scheme) of a dataset.</summary>
    public static string BlobOf(string sha256, string name) => $"{DatasetsFolder}/{sha256}/{name}";

    /// <summary>Splits a dataset URI into its hash and name.</summary>
    /// <exception cref="ArgumentException">The URI is not <c>store:datasets/{64 hex digits}/{name}</c>; the message names it.</exception>
    public static (string Sha256, string Name) ParseDataset(string uri)
    {
        string[] parts = IsStoreUri(uri) ? uri[Scheme.Length..].Split('/') : [];
        if (parts.Length != 3 || parts[0] != DatasetsFolder || !IsSha256(parts[1]) || SafeName(parts[2]) != parts[2])
            throw new ArgumentException($"'{uri}' is not a dataset URI of the cluster's store: use {Scheme}{DatasetsFolder}/<sha256, 64 hex digits>/<name> " +
                                        "(what `qst train --data FILE` or QstClient.UploadDatasetAsync printed)");
        return (parts[1], parts[2]);
    }

    /// <summary>A file name made into one blob-name segment: characters outside <c>[A-Za-z0-9._-]</c> become '_', leading
    /// dots are dropped, at most 100 characters; "data" when nothing is left.</summary>
    public static string SafeName(string fileName)
    {
        var safe = new string(fileName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray()).TrimStart('.');
        if (safe.Length > 100) safe = safe[^100..].TrimStart('.');
        return safe.Length == 0 ? "data" : safe;
    }

    /// <summary>64 lower-case hex digits.</summary>
    public static bool IsSha256(string text) =>
        text.Length == 64 && text.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    /// <summary>Bytes as lower-case hex (the form every checksum here uses).</summary>
    public static string Hex(byte[] hash) => Convert.ToHexString(hash).ToLower(CultureInfo.InvariantCulture);
}

/// <summary>What a client is about to upload.</summary>
/// <param name="Name">The dataset's name in the store (one segment; see <see cref="StoreUris.SafeName"/>).</param>
/// <param name="Size">The file's length in bytes.</param>
/// <param name="Sha256">SHA-256 of the whole file, lower-case hex.</param>
[GenerateSerializer, Immutable]
public sealed record DatasetUploadRequest(
    [property: Id(0)] string Name,
    [property: Id(1)] long Size,
    [property: Id(2)] string Sha256);

/// <summary>The cluster's answer to <see cref="DatasetUploadRequest"/>.</summary>
/// <param name="Uri">The dataset's store URI (valid once committed, or at once when <paramref name="AlreadyStored"/>).</param>
/// <param name="AlreadyStored">The same content is stored under that name already: send nothing.</param>
/// <param name="Location">Where the store keeps it (for messages).</param>
[GenerateSerializer, Immutable]
public sealed record DatasetUploadStart(
    [property: Id(0)] string Uri,
    [property: Id(1)] bool AlreadyStored,
    [property: Id(2)] string Location);
