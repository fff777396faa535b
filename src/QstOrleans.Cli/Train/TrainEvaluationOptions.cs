namespace QstOrleans.Cli.Train;

/// <summary>
/// The evaluation files of <c>qst train</c>: <c>--val-data FILE</c> and <c>--mmlu FILE</c>, as <c>qst train-local</c> takes
/// them (<c>--val-fraction</c> and <c>--eval-every</c> are config keys, <c>evaluation.*</c>). A cluster job evaluates in
/// its side trainer between optimizer steps and reports the numbers with its steps (see <c>Grains/Side/Evaluation</c>).
/// </summary>
internal static class TrainEvaluationOptions
{
    /// <param name="pathsSeenBy">Appended to the help (", as the silos see it").</param>
    public static (Option<string?> ValData, Option<string?> Mmlu) Create(string pathsSeenBy) => (
        new Option<string?>("--val-data") { Description = $"Validation file (any format, never packed){pathsSeenBy}; excludes --val-fraction" },
        new Option<string?>("--mmlu") { Description = $"MMLU-style JSONL (question, choices or A..D, answer) for multiple-choice accuracy{pathsSeenBy}" });

    /// <summary>Absolute (silos open it), or null when not given.</summary>
    public static string? FullPath(string? path) => path is null ? null : Path.GetFullPath(path);
}
