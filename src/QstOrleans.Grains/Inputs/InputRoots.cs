namespace QstOrleans.Grains.Inputs;

/// <summary>
/// Where a silo may read what clients name, and how big it may be (config section <c>Qst:Roots</c>):
/// <code>
/// "Qst": { "Roots": { "Models": "/srv/models", "Data": "/srv/data:/mnt/datasets", "MaxDataFileBytes": 2147483648, "MaxLineBytes": 4194304 } }
/// </code>
/// Each root list holds directories separated by the platform's path separator (<c>:</c> on Linux). An empty list
/// means "anything the silo's user may read": the default of <c>--local</c> runs (the client and the silo are the same
/// process and user, so a root would only get in the way) and of a silo nobody configured, which logs a warning at
/// startup. The caps always apply.
/// </summary>
public sealed class InputRoots
{
    /// <summary>Directories holding model directories (<c>JobSpec.ModelDirectory</c>).</summary>
    public string Models { get; set; } = "";
    /// <summary>Directories holding training data files (<c>JobSpec.DataFile</c>).</summary>
    public string Data { get; set; } = "";
    /// <summary>Directories a job may write client-named outputs to. No cluster job writes any today (checkpoints go to the
    /// silo's own <c>Qst:Checkpoints</c> store); reserved so that a future output path is confined from its first day.</summary>
    public string Outputs { get; set; } = "";
    /// <summary>Largest training data file read (default 2 GiB; the whole file is tokenized in memory).</summary>
    public long MaxDataFileBytes { get; set; } = 2L << 30;
    /// <summary>Longest line of a text data file (default 4 MiB; one example costs far more memory once parsed).</summary>
    public int MaxLineBytes { get; set; } = 4 << 20;
    /// <summary>Largest JSON file of a model directory (config, tokenizer, shard index; default 64 MiB).</summary>
    public long MaxModelJsonBytes { get; set; } = 64L << 20;

    /// <summary>Checks that every root is an existing directory and every cap positive; throws naming the key under <paramref name="section"/>.</summary>
    public void Validate(string section)
    {
        foreach (var (key, list) in new[] { ("Models", Models), ("Data", Data), ("Outputs", Outputs) })
            foreach (string root in list.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                if (!Directory.Exists(root)) throw new ArgumentException($"{section}:{key}: '{root}' is not a directory");
        foreach (var (key, value) in new[] { ("MaxDataFileBytes", MaxDataFileBytes), ("MaxLineBytes", (long)MaxLineBytes), ("MaxModelJsonBytes", MaxModelJsonBytes) })
            if (value <= 0) throw new ArgumentException($"{section}:{key}: must be positive, got {value}");
    }

    /// <summary>True when no root list is set: every path is allowed (the caps still apply).</summary>
    public bool Unconfined => Split(Models).Count == 0 && Split(Data).Count == 0 && Split(Outputs).Count == 0;

    /// <summary>The directories of one root list, made absolute and with their symlinks resolved.</summary>
    public static IReadOnlyList<string> Split(string list) =>
        list.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(RealPath.Of).ToList();
}
