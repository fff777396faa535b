namespace QstOrleans.Contracts.Wire;

/// <summary>
/// No job with this id was ever submitted to the cluster (or its submission was refused before anything was stored).
/// Thrown by the job grain's status, watch, pause, resume and cancel calls, so a mistyped id fails at once instead of
/// reading <see cref="JobState.Pending"/> forever. Crosses silos and reaches clients as itself (it has an Orleans codec).
/// </summary>
[GenerateSerializer]
public sealed class JobNotFoundException : Exception
{
    /// <summary>For the serializer.</summary>
    public JobNotFoundException() { }

    /// <summary>The error for <paramref name="jobId"/>.</summary>
    public JobNotFoundException(string jobId) : base($"no job '{jobId}' on this cluster (`qst jobs` lists the submitted ones)") => JobId = jobId;

    /// <summary>The id that names no job.</summary>
    [Id(0)] public string JobId { get; init; } = "";
}

/// <summary>
/// A submit reused the id of an existing job with a different spec: refused, because the id names the existing run
/// (its checkpoints, its result). <see cref="Differences"/> lists each differing field as <c>path: existing → submitted</c>.
/// </summary>
[GenerateSerializer]
public sealed class JobSpecConflictException : Exception
{
    /// <summary>For the serializer.</summary>
    public JobSpecConflictException() { }

    /// <summary>The refusal of a submit under <paramref name="jobId"/>, with the fields that differ.</summary>
    public JobSpecConflictException(string jobId, IReadOnlyList<string> differences)
        : base($"job '{jobId}' already exists with a different spec ({differences.Count} field(s) differ: existing → submitted):\n  "
               + string.Join("\n  ", differences) + "\nsubmit under a new job id, or repeat the existing spec to resume it")
    {
        JobId = jobId;
        Differences = differences.ToList();
    }

    /// <summary>The existing job's id.</summary>
    [Id(0)] public string JobId { get; init; } = "";
    /// <summary>One line per differing field: <c>Config.Schedule.Epochs: 4 → 8</c>.</summary>
    [Id(1)] public IReadOnlyList<string> Differences { get; init; } = [];
}
