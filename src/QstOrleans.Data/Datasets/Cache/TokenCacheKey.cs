using System.Security.Cryptography;
using System.Text;
using QstOrleans.Data.Tokenization;

namespace QstOrleans.Data.Datasets.Cache;

/// <summary>
/// What a token cache depends on, hashed into one SHA-256: the data file's bytes (their XxHash128), the tokenizer's files (and the
/// model directory's small text/config files, where the chat template and special tokens live), the template
/// used, and every option that changes the tokenized examples. Packing, grouping, batch size and seed act after
/// the cache, so they are not part of it.
/// </summary>
internal static class TokenCacheKey
{
    /// <summary>Bump when tokenization, rendering or truncation code changes its output: old caches then miss.</summary>
    public const int Revision = 3;                                           // 2: own tokenizer.json encoder; 3: data by XxHash128

    // Files a tokenizer, its special tokens or a chat template can come from; weights are left out (they cannot
    // change token ids, and hashing gigabytes on every start would defeat the cache).
    static readonly string[] TokenizerExtensions = [".json", ".model", ".jinja", ".txt", ".tiktoken", ".vocab"];

    /// <summary>The key, and the data file's own hash (hex, for the cache file's name).</summary>
    public static (byte[] Key, string DataHash) Compute(string dataFile, ModelTokenizer tokenizer, ChatTemplate template,
        string? modelDirectory, DataOptions options)
    {
        byte[] data = FingerprintData(dataFile);
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Text(string s) => h.AppendData(Encoding.UTF8.GetBytes(s + "\n"));

        Text($"qst-token-cache r{Revision}");
        h.AppendData(data);
        Text($"tokenizer {tokenizer.Format} {Path.GetFileName(tokenizer.SourceFile)} vocab {tokenizer.VocabSize} " +
             $"bos {tokenizer.BosId} eos {tokenizer.EosId} pad {tokenizer.PadId}");
        foreach (string file in TokenizerFiles(tokenizer, modelDirectory))
        {
            Text(Path.GetFileName(file));
            h.AppendData(HashFile(file));
        }
        Text($"template {(modelDirectory is null ? "none" : "model")} {template.Family} {template.BosToken} {template.EosToken} {template.Warning}");
        string jinja = template.Jinja?.Text ?? "";
        Text($"template text {jinja.Length}");                                  // --chat-template FILE lives outside the model folder
        Text(jinja);
        Text($"options format {options.Format?.ToString() ?? "auto"} source {options.MaxSourceTokens} target {options.MaxTargetTokens} " +
             $"max {options.MaxLength} skip {options.SkipInvalid}");
        return (h.GetHashAndReset(), Convert.ToHexString(data).ToLowerInvariant());
    }

    /// <summary>The tokenizer's own file and the small files beside it and in the model directory, sorted by path.</summary>
    static IEnumerable<string> TokenizerFiles(ModelTokenizer tokenizer, string? modelDirectory)
    {
        var files = new SortedSet<string>(StringComparer.Ordinal) { Path.GetFullPath(tokenizer.SourceFile) };
        foreach (string? dir in new[] { Path.GetDirectoryName(Path.GetFullPath(tokenizer.SourceFile)), modelDirectory })
            if (dir is not null && Directory.Exists(dir))
                foreach (string f in Directory.EnumerateFiles(dir))
                    if (TokenizerExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()) && !f.EndsWith(".tmp", StringComparison.Ordinal))
                        files.Add(Path.GetFullPath(f));
        return files;
    }

    /// <summary>
    /// The data file's fingerprint: XxHash128 of every byte, streamed. Why not SHA-256: a start or resume hashes the
    /// whole file (gigabytes for large data) before it can use the cache, and XxHash128 runs several times faster
    /// while still reading every byte, so any edit is seen, also one that keeps the size and modification time
    /// (which a (size, mtime) shortcut would miss). It is not collision-resistant against a crafted file, which a
    /// local cache does not need: whoever can write the data file can write its cache file too.
    /// </summary>
    static byte[] FingerprintData(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var hash = new System.IO.Hashing.XxHash128();
        var buffer = new byte[1 << 20];
        int n;
        while ((n = stream.Read(buffer)) > 0) hash.Append(buffer.AsSpan(0, n));
        return hash.GetCurrentHash();
    }

    /// <summary>SHA-256 of a file, streamed.</summary>
    static byte[] HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return SHA256.HashData(stream);
    }
}
