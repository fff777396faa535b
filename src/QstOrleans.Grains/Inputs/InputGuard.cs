namespace QstOrleans.Grains.Inputs;

/// <summary>
/// Checks the paths a client names (<see cref="JobSpec.ModelDirectory"/>, <see cref="JobSpec.DataFile"/>) before the
/// silo opens them: after resolving every symlink they must lie under the configured <see cref="InputRoots"/>, be
/// regular files (no <c>/dev/zero</c>, pipes or sockets) and stay under the size and line caps. A refusal names the
/// client's path and the rule, never anything read from the file, and a path outside the roots is refused before its
/// existence is looked at (no oracle). A silo-wide singleton; <see cref="Check"/> does blocking I/O (the data file is
/// streamed once for its line lengths), so grains call it off their scheduler.
/// </summary>
public sealed class InputGuard(InputRoots roots)
{
    readonly IReadOnlyList<string> _models = InputRoots.Split(roots.Models);
    readonly IReadOnlyList<string> _data = InputRoots.Split(roots.Data);

    /// <summary>The caps and roots in force.</summary>
    public InputRoots Roots => roots;

    /// <exception cref="InputRefusedException">The first rule the spec's paths break.</exception>
    public void Check(JobSpec spec)
    {
        // A store URI names the cluster's own blobs, not a silo path: StoredDatasets / StoredModels check their copies.
        if (!StoreUris.IsStoreUri(spec.ModelDirectory)) CheckModelDirectory(spec.ModelDirectory);
        if (!StoreUris.IsStoreUri(spec.DataFile)) CheckDataFile(spec.DataFile);
    }

    /// <summary>The silo's own copy of a stored dataset (<paramref name="uri"/>, named in refusals): the size and line caps of a data
    /// file; no roots (the silo wrote the copy itself).</summary>
    public void CheckFetchedDataFile(string path, string uri)
    {
        const string what = "data file (--data)";
        long length = new FileInfo(path).Length;
        if (length > roots.MaxDataFileBytes)
            throw new InputRefusedException(what, uri, $"is {length} bytes, more than the silo's cap of {roots.MaxDataFileBytes} (Qst:Roots:MaxDataFileBytes)");
        if (!IsBinary(path)) CheckLines(uri, path, what);
    }

    /// <summary>The model directory and every entry in it (the loaders read config, tokenizer, shard index and shards there).</summary>
    public void CheckModelDirectory(string path)
    {
        const string what = "model directory (--model)";
        string real = Confine(path, _models, what, "Qst:Roots:Models");
        if (!Directory.Exists(real)) throw new InputRefusedException(what, path, "does not exist on the silo or is not a directory");
        foreach (string entry in Directory.EnumerateFileSystemEntries(real))
        {
            string name = Path.GetFileName(entry), target = RealPath.Of(entry);
            if (_models.Count > 0 && !_models.Any(r => RealPath.IsUnder(target, r)))
                throw new InputRefusedException(what, path, $"its entry '{name}' links outside the silo's model roots (Qst:Roots:Models)");
            if (Directory.Exists(target)) continue;   // sub-folders are never read
            if (!RealPath.IsRegularFile(target))
                throw new InputRefusedException(what, path, $"its entry '{name}' is not a regular file (devices, pipes and sockets are refused)");
            if (name.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && new FileInfo(target).Length > roots.MaxModelJsonBytes)
                throw new InputRefusedException(what, path, $"its entry '{name}' is larger than {roots.MaxModelJsonBytes} bytes (Qst:Roots:MaxModelJsonBytes)");
        }
    }

    /// <summary>The data file: confined, regular, at most <see cref="InputRoots.MaxDataFileBytes"/>, text lines at most <see cref="InputRoots.MaxLineBytes"/>.</summary>
    public void CheckDataFile(string path)
    {
        const string what = "data file (--data)";
        string real = Confine(path, _data, what, "Qst:Roots:Data");
        if (Directory.Exists(real)) throw new InputRefusedException(what, path, "is a directory, not a file");
        if (!File.Exists(real)) throw new InputRefusedException(what, path, "does not exist on the silo");
        if (!RealPath.IsRegularFile(real)) throw new InputRefusedException(what, path, "is not a regular file (devices, pipes and sockets are refused)");
        long length = new FileInfo(real).Length;
        if (length > roots.MaxDataFileBytes)
            throw new InputRefusedException(what, path, $"is {length} bytes, more than the silo's cap of {roots.MaxDataFileBytes} (Qst:Roots:MaxDataFileBytes)");
        if (!IsBinary(real)) CheckLines(path, real, what);
    }

    /// <summary>The real path of <paramref name="path"/> when it lies under one of <paramref name="allowed"/> (or no roots are set).</summary>
    static string Confine(string path, IReadOnlyList<string> allowed, string what, string key)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new InputRefusedException(what, path, "is empty");
        string real;
        try { real = RealPath.Of(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InputRefusedException(what, path, "cannot be resolved on the silo");
        }
        if (allowed.Count > 0 && !allowed.Any(r => RealPath.IsUnder(real, r)))
            throw new InputRefusedException(what, path, $"is outside the silo's allowed roots ({key}), after resolving symlinks");
        return real;
    }

    /// <summary>Columnar formats have no lines; every other data file is text.</summary>
    static bool IsBinary(string path) => Path.GetExtension(path).ToLowerInvariant() is ".parquet" or ".arrow";

    /// <summary>Streams the file once (64 KiB at a time) and refuses it at the first line longer than the cap.</summary>
    void CheckLines(string path, string real, string what)
    {
        var buffer = new byte[64 << 10];
        using var stream = new FileStream(real, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        long lineBytes = 0, total = 0;
        int line = 1, read;
        while ((read = stream.Read(buffer)) > 0)
        {
            total += read;
            if (total > roots.MaxDataFileBytes)   // grew while read
                throw new InputRefusedException(what, path, $"is more than the silo's cap of {roots.MaxDataFileBytes} bytes (Qst:Roots:MaxDataFileBytes)");
            for (var span = buffer.AsSpan(0, read); ; )
            {
                int newline = span.IndexOf((byte)'\n');
                lineBytes += newline < 0 ? span.Length : newline;
                if (lineBytes > roots.MaxLineBytes)
                    throw new InputRefusedException(what, path, $"line {line} is longer than the silo's cap of {roots.MaxLineBytes} bytes (Qst:Roots:MaxLineBytes)");
                if (newline < 0) break;
                (line, lineBytes) = (line + 1, 0);
                span = span[(newline + 1)..];
            }
        }
    }
}

/// <summary>A client-named path the silo refuses to open; the message names the path and the rule only. Bad input.</summary>
public sealed class InputRefusedException(string what, string path, string rule) : ArgumentException($"{what} '{path}' {rule}");
