using QstOrleans.Contracts.Wire;

namespace QstOrleans.Contracts.Grains;

/// <summary>
/// One dataset upload into the cluster's store (key = an upload id the client makes up, e.g. a GUID): the other direction of
/// <see cref="IJobResultGrain"/>. <see cref="Begin"/> names the file (size, SHA-256); <see cref="Append"/> sends it in order in
/// chunks of at most <see cref="MaxChunkBytes"/>, each with its own SHA-256; <see cref="Commit"/> checks the whole file's
/// SHA-256 and stores it create-only as <c>datasets/{sha256}/{name}</c>. Until the commit the bytes sit in a silo-local temp
/// file, so an interrupted upload leaves no visible dataset; the same content uploaded twice is stored once. The files of a
/// model directory travel the same way (<see cref="DatasetUploadRequest.Model"/>), its manifest last.
/// </summary>
/// <remarks>Resuming: a client that names its upload by content (<see cref="KeyOf"/>) and calls <see cref="Begin"/> again with the
/// same request after an interruption gets <see cref="DatasetUploadStart.ReceivedBytes"/>/<see cref="DatasetUploadStart.NextIndex"/>
/// and sends only the rest; the whole file's SHA-256 is still checked at <see cref="Commit"/>. The partial file lives as long as
/// the upload's activation (until Orleans collects it after idling, or its silo stops).</remarks>
/// <remarks>Every refusal (a file over the silo's data cap <c>Qst:Roots:MaxDataFileBytes</c>, a chunk whose checksum or
/// offset is wrong, a whole-file checksum that differs) names the upload and the chunk or rule, and ends the upload.</remarks>
public interface IDatasetUploadGrain : IGrainWithStringKey
{
    /// <summary>The most bytes one <see cref="Append"/> may carry.</summary>
    public const int MaxChunkBytes = 4 << 20;

    /// <summary>The grain key of an upload of this content: the same request after an interruption finds what was received.</summary>
    public static string KeyOf(DatasetUploadRequest request) => $"{request.Model ?? "data"}-{request.Sha256}-{request.Name}";

    /// <summary>Starts the upload, or continues an interrupted one of the very same request (see the remarks);
    /// <see cref="DatasetUploadStart.AlreadyStored"/> when nothing needs sending.</summary>
    [ResponseTimeout("00:05:00")]
    Task<DatasetUploadStart> Begin(DatasetUploadRequest request);

    /// <summary>Chunk <paramref name="index"/> (0-based) of the file: <paramref name="bytes"/> at <paramref name="offset"/>, which must
    /// be where the previous chunk ended; <paramref name="sha256"/> is the chunk's own SHA-256 (lower-case hex).</summary>
    [ResponseTimeout("00:05:00")]
    Task Append(int index, long offset, byte[] bytes, string sha256);

    /// <summary>Verifies the whole file and stores it; returns its store URI (<see cref="StoreUris"/>).</summary>
    [ResponseTimeout("00:10:00")]
    Task<string> Commit();

    /// <summary>Drops what was received (nothing becomes visible).</summary>
    Task Abort();

    /// <summary>
    /// Whether the silo answering can read <paramref name="path"/> as a job's data file (inside its <c>Qst:Roots:Data</c>, a
    /// regular file under the caps) with exactly <paramref name="size"/> bytes and SHA-256 <paramref name="sha256"/>: then a
    /// job may name the path itself. Answers for one silo; a cluster whose silos see different disks should upload.
    /// </summary>
    [ResponseTimeout("00:05:00")]
    Task<bool> Sees(string path, long size, string sha256);

    /// <summary>
    /// Whether the silo answering can read <paramref name="directory"/> as a job's model directory (inside its
    /// <c>Qst:Roots:Models</c>) holding exactly the files of <paramref name="manifest"/> (<see cref="ModelManifest"/>: same names,
    /// sizes and SHA-256): then a job may name the directory itself.
    /// </summary>
    [ResponseTimeout("00:10:00")]
    Task<bool> SeesModel(string directory, string manifest);
}
