using System.Diagnostics;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Data.Datasets.Cache;

/// <summary>What <see cref="TokenCache.Load"/> returns: the kept examples in file order and the load/tokenize summary.</summary>
/// <param name="CachePath">The cache file read or written; null when the cache is off or could not be written anywhere.</param>
/// <param name="Hit">True when the examples came from the cache (no record was parsed or tokenized).</param>
public sealed record TokenCacheResult(IReadOnlyList<TokenizedExample> Examples, string Summary, string? CachePath, bool Hit);

/// <summary>
/// Tokenize once: the examples of a data file under a tokenizer, template and options are kept in a memory-mapped
/// cache file (<see cref="TokenCacheFile"/>) and read back on every later start (train-local, the cluster's job plan,
/// resumes) instead of parsing and tokenizing the file again.
/// </summary>
/// <remarks>
/// <para>Where: <c>.qst-tokens/NAME.KEY16.tokens</c> beside the data file; when that folder cannot be written,
/// <c>NAME.PATH8.KEY.tokens</c> under <see cref="TokenCacheOptions.EffectiveCacheRoot"/>. Both are looked at on a read.
/// After a build the data file's caches under other keys are removed (<see cref="TokenCacheCleanup"/>).</para>
/// <para>Key (<see cref="TokenCacheKey"/>): the file's XxHash128, the tokenizer files, the template and the options that
/// change examples; any change misses and rebuilds. A damaged cache file also misses.</para>
/// <para>Build: the loader reads the records (errors name the file and line, as without the cache), then
/// <see cref="ParallelTokenizer"/> tokenizes them on every core in a deterministic order.</para>
/// </remarks>
public static class TokenCache
{
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, (int Builds, int Hits)> Counts = new(StringComparer.Ordinal);

    /// <summary>Since the process started: how often <paramref name="dataFile"/> was tokenized (a miss, or the cache
    /// off) and read from its cache. Shows across silos in one process that a re-planned job tokenized nothing.</summary>
    public static (int Builds, int Hits) CountsOf(string dataFile) =>
        Counts.TryGetValue(Path.GetFullPath(dataFile), out var c) ? c : (0, 0);

    static void Count(string dataFile, bool hit) =>
        Counts.AddOrUpdate(Path.GetFullPath(dataFile), hit ? (0, 1) : (1, 0), (_, c) => hit ? (c.Builds, c.Hits + 1) : (c.Builds + 1, c.Hits));

    /// <summary>The examples of <paramref name="dataFile"/>, from the cache when it matches, else tokenized (and cached).</summary>
    /// <param name="modelDirectory">Where the template came from (part of the key); null = the plain template.</param>
    public static TokenCacheResult Load(string dataFile, ModelTokenizer tokenizer, ChatTemplate template, string? modelDirectory,
        DataOptions options, TokenCacheOptions cache)
    {
        cache.Validate();
        if (!File.Exists(dataFile)) throw new FileNotFoundException($"Dataset file '{dataFile}' does not exist.", dataFile);
        string name = Path.GetFileName(dataFile);
        var clock = Stopwatch.StartNew();
        if (!cache.Enabled)
        {
            var (examples, summary) = Build(dataFile, tokenizer, template, options, cache);
            cache.Report?.Invoke(new TokenCacheProgress(dataFile, examples.Count, examples.Count, clock.Elapsed, "off (tokenized, not written)"));
            return new TokenCacheResult(examples, summary, null, Hit: false);
        }

        var (key, _) = TokenCacheKey.Compute(dataFile, tokenizer, template, modelDirectory, options);
        string hex = Convert.ToHexString(key).ToLowerInvariant();
        // Beside the data: NAME.KEY16.tokens; in the shared root the name also carries a hash of the data file's path, so
        // two data files with the same name never remove each other's caches.
        string pathHash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(dataFile))))[..8].ToLowerInvariant();
        (string Folder, string Prefix, int KeyChars)[] folders =
        [
            (Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dataFile))!, ".qst-tokens"), $"{name}.", 16),
            (cache.EffectiveCacheRoot, $"{name}.{pathHash}.", 64),
        ];
        string[] places = folders.Select(f => Path.Combine(f.Folder, f.Prefix + hex[..f.KeyChars] + ".tokens")).ToArray();
        foreach (string place in places)
            if (TokenCacheFile.TryRead(place, key) is var (cached, tail))
            {
                Count(dataFile, hit: true);
                cache.Report?.Invoke(new TokenCacheProgress(dataFile, cached.Count, cached.Count, clock.Elapsed, $"hit ({place})"));
                return new TokenCacheResult(cached, name + tail, place, Hit: true);
            }

        var built = Build(dataFile, tokenizer, template, options, cache);
        string? written = places.FirstOrDefault(p => TryWrite(p, key, built.Summary[name.Length..], built.Examples));
        if (written is not null)
            foreach (var (folder, prefix, keyChars) in folders) TokenCacheCleanup.RemoveStale(folder, prefix, keyChars, written);
        cache.Report?.Invoke(new TokenCacheProgress(dataFile, built.Examples.Count, built.Examples.Count, clock.Elapsed,
            written is null ? "not written (no writable folder)" : $"built ({written})"));
        return new TokenCacheResult(built.Examples, built.Summary, written, Hit: false);
    }

    /// <summary>Reads and tokenizes the file: the summary starts with the file's name (<see cref="DatasetLoadResult.Summary"/>).</summary>
    static (IReadOnlyList<TokenizedExample> Examples, string Summary) Build(string dataFile, ModelTokenizer tokenizer, ChatTemplate template,
        DataOptions options, TokenCacheOptions cache)
    {
        Count(dataFile, hit: false);
        var loaded = DatasetLoader.Load(dataFile, options.Format, options.SkipInvalid, template);
        var collator = new SegmentCollator(tokenizer, template, new SegmentCollatorOptions(int.MaxValue)); // untruncated: the rules apply after
        var tokenized = ParallelTokenizer.Tokenize(loaded.Records, collator, options, cache, dataFile);
        return (tokenized.Examples, $"{loaded.Summary}; {tokenized.Summary}");
    }

    /// <summary>False when <paramref name="path"/>'s folder cannot be made or written (a read-only dataset folder).</summary>
    static bool TryWrite(string path, byte[] key, string summaryTail, IReadOnlyList<TokenizedExample> examples)
    {
        try
        {
            TokenCacheFile.Write(path, key, summaryTail, examples);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
