namespace QstOrleans.Data.Datasets.Cache;

/// <summary>
/// Where and how <see cref="TokenCache"/> keeps the tokenized form of a data file.
/// </summary>
/// <param name="Enabled">False tokenizes every time and writes nothing (the data is still tokenized in parallel).</param>
/// <param name="CacheRoot">Where caches go when the data file's folder is not writable; null =
/// <c>$XDG_CACHE_HOME/qstorleans/tokens</c> (or <c>~/.cache/qstorleans/tokens</c>).</param>
/// <param name="ChunkSize">Records per parallel work item; the output order never depends on it.</param>
/// <param name="MaxDegreeOfParallelism">Threads that tokenize; 0 = every core, 1 = the single-threaded baseline.</param>
/// <param name="Report">Called with the build's progress (at most a few times a second, from one thread at a time)
/// and once with the outcome; null = silent.</param>
public sealed record TokenCacheOptions(
    bool Enabled = true, string? CacheRoot = null, int ChunkSize = 2048, int MaxDegreeOfParallelism = 0,
    Action<TokenCacheProgress>? Report = null)
{
    /// <summary>What training uses: the cache beside the data, built on every core, with a progress line on standard error
    /// when it is a terminal (nothing in tests, services or pipes). The parallel build writes the same bytes as a
    /// single-threaded one (DataScale/TokenCacheDeterminismTests: many chunks, more threads than cores, forced GCs).</summary>
    public static TokenCacheOptions Default { get; } = new(Report: Console.IsErrorRedirected ? null : p => (TokenCacheProgress.Display ?? TokenCacheProgress.WriteLine)(p));

    /// <summary>No cache: tokenize every time (what tests over committed fixtures use, so nothing is written beside them).</summary>
    public static TokenCacheOptions Off { get; } = new(Enabled: false);

    /// <summary>The folder used when the data file's own folder cannot be written.</summary>
    public string EffectiveCacheRoot => CacheRoot ?? Path.Combine(
        Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
        "qstorleans", "tokens");

    /// <summary>Checks the numbers; throws <see cref="ArgumentException"/> naming the field.</summary>
    public TokenCacheOptions Validate()
    {
        if (ChunkSize < 1) throw new ArgumentException($"TokenCacheOptions.ChunkSize must be >= 1, got {ChunkSize}");
        if (MaxDegreeOfParallelism < 0)
            throw new ArgumentException($"TokenCacheOptions.MaxDegreeOfParallelism must be >= 0 (0 = every core), got {MaxDegreeOfParallelism}");
        return this;
    }
}

/// <summary>What the token cache is doing, for a progress line.</summary>
/// <param name="DataFile">The data file.</param>
/// <param name="Done">Records tokenized so far (equal to <paramref name="Total"/> when finished).</param>
/// <param name="Total">Records in the file.</param>
/// <param name="Elapsed">Since tokenization started (or, for a hit, the time it took to read the cache).</param>
/// <param name="Outcome">Null while building; "hit" or "built" with the cache path when done.</param>
public sealed record TokenCacheProgress(string DataFile, long Done, long Total, TimeSpan Elapsed, string? Outcome = null)
{
    /// <summary>Where <see cref="TokenCacheOptions.Default"/> sends progress on a terminal; null = <see cref="WriteLine"/>.
    /// The CLI sets it once at start (a Spectre.Console progress bar).</summary>
    public static Action<TokenCacheProgress>? Display { get; set; }

    /// <summary>Rewrites one line on standard error: "tokenizing data.jsonl: 42% (420000/1000000 records, 3.1 s)".</summary>
    public static void WriteLine(TokenCacheProgress p)
    {
        string name = Path.GetFileName(p.DataFile);
        if (p.Outcome is { } outcome)
            Console.Error.WriteLine($"\rtoken cache {outcome} for {name}: {p.Total} records in {p.Elapsed.TotalSeconds:F1} s".PadRight(79));
        else
            Console.Error.Write($"\rtokenizing {name}: {100 * p.Done / Math.Max(1, p.Total)}% ({p.Done}/{p.Total} records, {p.Elapsed.TotalSeconds:F1} s)");
    }
}
