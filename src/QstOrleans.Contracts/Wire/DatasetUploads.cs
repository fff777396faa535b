using System.Globalization;

namespace QstOrleans.Contracts.Wire;

/// <summary>
/// Names of datasets kept in the cluster's own store (the checkpoint store, <c>Qst:Checkpoints</c>: a local directory or
/// an Azure container). One scheme: <c>store:datasets/{sha256}/{name}</c>, where <c>sha256</c> is the SHA-256 of the
/// file's bytes (64 lower-case hex digits) and <c>name</c> one blob-name segment (<c>[A-Za-z0-9._-]</c>, not starting
/// with '.'). A job accepts such a URI wherever it accepts a data path (<see cref="JobSpec.DataFile"/>); the silo that plans
/// the job copies the blob into a local cache file keyed by the hash and reads that. Models: <c>store:models/{sha256}</c>,
/// where <c>sha256</c> is the hash of the model's manifest (<see cref="ModelManifest"/>), whose files are stored beside it as
/// <c>models/{sha256}/{name}</c>; accepted wherever a model directory is (<see cref="JobSpec.ModelDirectory"/>).
/// </summary>
public static class StoreUris
{
    /// <summary>The scheme prefix.</summary>
    public const string Scheme = "store:";

    /// <summary>The store folder that holds uploaded datasets.</summary>
    public const string DatasetsFolder = "datasets";

    /// <summary>The store folder that holds uploaded models.</summary>
    public const string ModelsFolder = "models";

    /// <summary>The URI of the model whose manifest has SHA-256 <paramref name="sha256"/>.</summary>
    public static string ForModel(string sha256) => $"{Scheme}{ModelsFolder}/{sha256}";

    /// <summary>The blob name (without scheme) of file <paramref name="name"/> of the model <paramref name="sha256"/>.</summary>
    public static string ModelBlobOf(string sha256, string name) => $"{ModelsFolder}/{sha256}/{name}";

    /// <summary>The manifest hash of a model URI (<c>store:models/{sha256}</c>, a trailing '/' allowed).</summary>
    /// <exception cref="ArgumentException">Not such a URI; the message names it.</exception>
    public static string ParseModel(string uri)
    {
        string[] parts = IsStoreUri(uri) ? uri[Scheme.Length..].TrimEnd('/').Split('/') : [];
        if (parts.Length != 2 || parts[0] != ModelsFolder || !IsSha256(parts[1]))
            throw new ArgumentException($"model (--model) '{uri}' is not a model URI of the cluster's store: use {Scheme}{ModelsFolder}/<sha256, 64 hex digits> " +
                                        "(what `qst upload --model DIR` printed)");
        return parts[1];
    }

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
/// <param name="Model">Null for a dataset; for a file of a model upload, the model's manifest hash: the file is stored as
/// <c>models/{Model}/{Name}</c>, and the manifest itself (<see cref="ModelManifest.FileName"/>, whose SHA-256 is
/// <paramref name="Model"/>) goes last and is stored only once every file it lists is.</param>
[GenerateSerializer, Immutable]
public sealed record DatasetUploadRequest(
    [property: Id(0)] string Name,
    [property: Id(1)] long Size,
    [property: Id(2)] string Sha256,
    [property: Id(3)] string? Model = null);

/// <summary>The cluster's answer to <see cref="DatasetUploadRequest"/>.</summary>
/// <param name="Uri">The dataset's store URI (valid once committed, or at once when <paramref name="AlreadyStored"/>).</param>
/// <param name="AlreadyStored">The same content is stored under that name already: send nothing.</param>
/// <param name="Location">Where the store keeps it (for messages).</param>
/// <param name="ReceivedBytes">Bytes of this very request the silo already holds from an interrupted upload: continue at this
/// offset (0 = from the start).</param>
/// <param name="NextIndex">The chunk index to continue with.</param>
[GenerateSerializer, Immutable]
public sealed record DatasetUploadStart(
    [property: Id(0)] string Uri,
    [property: Id(1)] bool AlreadyStored,
    [property: Id(2)] string Location,
    [property: Id(3)] long ReceivedBytes = 0,
    [property: Id(4)] int NextIndex = 0);

/// <summary>
/// The manifest of an uploaded model directory: one line <c>{sha256} {size} {name}</c> per file (the loaders read only a
/// directory's top level: config.json, tokenizer files, *.safetensors shards and their index), sorted by name (ordinal),
/// each ending in '\n', UTF-8. Its own SHA-256 names the model (<c>store:models/{sha256}</c>), so the same files give the same
/// URI, and a silo that fetches the model checks every file against it.
/// </summary>
public static class ModelManifest
{
    /// <summary>The manifest's name in the store (uploaded last: its presence means the model is complete).</summary>
    public const string FileName = "qst-model.manifest";

    /// <summary>One file of a model.</summary>
    /// <param name="Name">Its name (one segment, <see cref="StoreUris.SafeName"/>).</param>
    /// <param name="Size">Bytes.</param>
    /// <param name="Sha256">Lower-case hex.</param>
    public sealed record Entry(string Name, long Size, string Sha256);

    /// <summary>The manifest text of <paramref name="entries"/> (sorted here).</summary>
    public static string Write(IEnumerable<Entry> entries) =>
        string.Concat(entries.OrderBy(e => e.Name, StringComparer.Ordinal).Select(e => $"{e.Sha256} {e.Size.ToString(CultureInfo.InvariantCulture)} {e.Name}\n"));

    /// <summary>SHA-256 of the manifest text: the model's id.</summary>
    public static string Hash(string text) => StoreUris.Hex(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));

    /// <summary>The entries of a manifest text.</summary>
    /// <exception cref="InvalidDataException">A malformed line (named with <paramref name="what"/> and its number), a name twice, or
    /// the manifest itself listed.</exception>
    public static IReadOnlyList<Entry> Parse(string text, string what)
    {
        var entries = new List<Entry>();
        string[] lines = text.Split('\n');
        if (lines[^1].Length != 0) throw new InvalidDataException($"{what}: the manifest does not end with a newline");
        for (int i = 0; i < lines.Length - 1; i++)
        {
            string[] parts = lines[i].Split(' ');
            if (parts.Length != 3 || !StoreUris.IsSha256(parts[0]) || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long size)
                || StoreUris.SafeName(parts[2]) != parts[2] || parts[2] == FileName)
                throw new InvalidDataException($"{what}: manifest line {i + 1} is not '<sha256> <size> <name>'");
            entries.Add(new Entry(parts[2], size, parts[0]));
        }
        if (entries.Count == 0) throw new InvalidDataException($"{what}: the manifest lists no files");
        if (entries.Select(e => e.Name).Distinct(StringComparer.Ordinal).Count() != entries.Count)
            throw new InvalidDataException($"{what}: the manifest lists a file twice");
        return entries;
    }
}
