using System.Text;
using System.Text.Json;

namespace QstOrleans.Data.Datasets;

/// <summary>The dataset formats <see cref="DatasetLoader"/> reads.</summary>
public enum DatasetFormat
{
    /// <summary><c>{"instruction", "input"?, "output"}</c>; loss on the output.</summary>
    Alpaca,
    /// <summary>ShareGPT <c>{"conversations": [{"from", "value"}]}</c> or OpenAI <c>{"messages": [{"role", "content"}]}</c>; loss on assistant turns.</summary>
    Chat,
    /// <summary><c>{"text"}</c> JSONL or a <c>.txt</c> file; loss on every token.</summary>
    Text,
    /// <summary><c>{"input_ids", "labels"?}</c>; used as is.</summary>
    PreTokenized,
}

/// <summary>What <see cref="DatasetLoader.Load"/> read, kept and dropped.</summary>
public sealed record DatasetLoadResult(
    string File, DatasetFormat Format, IReadOnlyList<DatasetRecord> Records,
    IReadOnlyList<DroppedRecord> Dropped, IReadOnlyList<string> Warnings)
{
    public int Kept => Records.Count;

    /// <summary>One line for logs, e.g. "data.jsonl (Chat): kept 998 of 1000 records; dropped 2: empty response (2)".</summary>
    public string Summary
    {
        get
        {
            var sb = new StringBuilder($"{Path.GetFileName(File)} ({Format}): kept {Kept} of {Kept + Dropped.Count} records");
            if (Dropped.Count > 0)
            {
                var reasons = Dropped.GroupBy(d => d.Reason).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => $"{g.Key} ({g.Count()})");
                sb.Append($"; dropped {Dropped.Count}: {string.Join("; ", reasons)}");
            }
            foreach (string w in Warnings) sb.Append($"; warning: {w}");
            return sb.ToString();
        }
    }
}

/// <summary>
/// Loads a training data file in any <see cref="DatasetFormat"/>, detecting the format when none is given.
/// </summary>
/// <remarks>
/// <para>Detection: a <c>.txt</c> file is <see cref="DatasetFormat.Text"/>. Otherwise (JSON array or JSONL, see
/// <see cref="JsonRecordReader"/>; or a <c>.parquet</c> file, whose rows are read as the same records, see
/// <see cref="Columnar.ParquetRecordReader"/>) the first record's fields decide: <c>conversations</c>/<c>messages</c> → Chat,
/// <c>instruction</c> → Alpaca, <c>input_ids</c> → PreTokenized, <c>text</c> → Text.</para>
/// <para>A <c>.txt</c> file is ONE document (its whole content, line 1), as nanoGPT treats a corpus file; for
/// several documents use <c>{"text"}</c> JSONL. Plain text is meant for packing (see <see cref="SequencePacker"/>);
/// without it a long document is truncated to the collator's maximum length.</para>
/// <para>Errors (<see cref="DataFormatException"/>, <c>file:line: problem</c>): invalid JSON, missing or wrongly
/// typed field, empty response, wrong or out-of-order role, undetectable format, no record left. With
/// <c>skipInvalid</c> record-level problems drop the record and are counted in the result instead.
/// <see cref="FileNotFoundException"/> for a missing file.</para>
/// </remarks>
public static class DatasetLoader
{
    /// <param name="path">A .json, .jsonl, .parquet or .txt file.</param>
    /// <param name="format">The format; null detects it.</param>
    /// <param name="skipInvalid">Drop bad records (counted with reasons) instead of throwing.</param>
    /// <param name="chatTemplate">The template chat data will be rendered with; only used to put its fallback
    /// warning (an unrecognised model template) into the report.</param>
    public static DatasetLoadResult Load(string path, DatasetFormat? format = null, bool skipInvalid = false, ChatTemplate? chatTemplate = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Dataset file '{path}' does not exist.", path);
        var records = new List<DatasetRecord>();
        var dropped = new List<DroppedRecord>();
        var warnings = new List<string>();

        if (format is DatasetFormat.Text && IsTxt(path) || format is null && IsTxt(path))
        {
            string text = File.ReadAllText(path); // detects and drops a BOM
            if (string.IsNullOrWhiteSpace(text)) throw new DataFormatException(path, 1, "text file is empty");
            return new DatasetLoadResult(path, DatasetFormat.Text, [new TextRecord(text, path, 1)], dropped, warnings);
        }

        DatasetFormat? detected = format;
        Action<string, Action<JsonElement, int>, bool, List<DroppedRecord>> read =
            Columnar.ParquetRecordReader.Handles(path) ? Columnar.ParquetRecordReader.Read : JsonRecordReader.Read;
        read(path, (e, line) =>
        {
            // Detection failures are file-level, so they throw even with skipInvalid.
            detected ??= Detect(e, path, line);
            records.Add(detected switch
            {
                DatasetFormat.Alpaca => RecordParsers.Alpaca(e, path, line),
                DatasetFormat.Chat => RecordParsers.Chat(e, path, line),
                DatasetFormat.Text => RecordParsers.Text(e, path, line),
                _ => RecordParsers.Tokens(e, path, line),
            });
        }, skipInvalid, dropped);

        if (records.Count == 0)
            throw new DataFormatException(path, 1, dropped.Count == 0 ? "no records in file" : $"no valid records ({dropped.Count} dropped)");
        if (detected == DatasetFormat.Chat && chatTemplate?.Warning is { } w) warnings.Add(w);
        return new DatasetLoadResult(path, detected!.Value, records, dropped, warnings);
    }

    private static bool IsTxt(string path) => string.Equals(Path.GetExtension(path), ".txt", StringComparison.OrdinalIgnoreCase);

    /// <summary>The format from the first record's field names.</summary>
    internal static DatasetFormat Detect(JsonElement e, string file, int line)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new DataFormatException(file, line, $"cannot detect the dataset format: the first record is a {e.ValueKind}, not an object");
        if (e.TryGetProperty("conversations", out _) || e.TryGetProperty("messages", out _)) return DatasetFormat.Chat;
        if (e.TryGetProperty("instruction", out _)) return DatasetFormat.Alpaca;
        if (e.TryGetProperty("input_ids", out _)) return DatasetFormat.PreTokenized;
        if (e.TryGetProperty("text", out _)) return DatasetFormat.Text;
        string fields = string.Join(", ", e.EnumerateObject().Select(p => p.Name));
        throw new DataFormatException(file, line,
            $"cannot detect the dataset format from the first record's fields [{fields}]: expected conversations/messages (chat), " +
            "instruction (Alpaca), input_ids (pre-tokenized) or text");
    }
}
