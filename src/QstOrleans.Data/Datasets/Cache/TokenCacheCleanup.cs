namespace QstOrleans.Data.Datasets.Cache;

/// <summary>
/// Removes the caches a dataset left under keys that no longer match (the file was edited, the tokenizer, template or
/// options changed): after a build, every other <c>NAME.KEY.tokens</c> of the same data file in the same folder goes,
/// so a folder holds one cache per data file instead of one per edit.
/// </summary>
/// <remarks>Only names of the exact shape <c>PREFIX + KEY + ".tokens"</c> with a hex KEY of the expected length are
/// touched (never a temporary file being written, never another data file's cache). A file that cannot be deleted
/// (in use elsewhere, read-only) is left; a reader that loses a cache it was about to open rebuilds it.</remarks>
internal static class TokenCacheCleanup
{
    /// <summary>Deletes <c>PREFIX{hex × keyChars}.tokens</c> files in <paramref name="folder"/> other than
    /// <paramref name="keep"/>; returns how many went.</summary>
    public static int RemoveStale(string folder, string prefix, int keyChars, string keep)
    {
        if (!Directory.Exists(folder)) return 0;
        int removed = 0;
        string keepName = Path.GetFileName(keep);
        foreach (string file in Directory.EnumerateFiles(folder, prefix + "*.tokens"))
        {
            string name = Path.GetFileName(file);
            if (name == keepName || name.Length != prefix.Length + keyChars + ".tokens".Length) continue;
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || name.AsSpan(prefix.Length, keyChars).ContainsAnyExcept(HexDigits)) continue;
            try
            {
                File.Delete(file);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left for a later build.
            }
        }
        return removed;
    }

    static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdef");
}
