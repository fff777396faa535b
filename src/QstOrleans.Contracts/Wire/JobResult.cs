namespace QstOrleans.Contracts.Wire;

/// <summary>
/// The durable result of a completed job: the exported side network (<c>side_model.safetensors</c> +
/// <c>side_config.json</c>) the cluster committed to its checkpoint store at the job's last step.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="Step">The step the weights are from (the job's last).</param>
/// <param name="Location">Where the store keeps it (for messages; a client never opens it).</param>
/// <param name="Files">The files, each with its size and SHA-256, to fetch with <c>IJobResultGrain.ReadChunk</c>.</param>
[GenerateSerializer, Immutable]
public sealed record JobResult(
    [property: Id(0)] string JobId,
    [property: Id(1)] long Step,
    [property: Id(2)] string Location,
    [property: Id(3)] IReadOnlyList<JobResultFile> Files);

/// <summary>One file of a <see cref="JobResult"/>.</summary>
/// <param name="Name">File name (one path segment).</param>
/// <param name="Size">Length in bytes.</param>
/// <param name="Sha256">SHA-256 of the whole file, lower-case hex.</param>
[GenerateSerializer, Immutable]
public sealed record JobResultFile(
    [property: Id(0)] string Name,
    [property: Id(1)] long Size,
    [property: Id(2)] string Sha256);
