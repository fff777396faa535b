using System.Text.Json;

namespace QstOrleans.Data.Datasets;

/// <summary>
/// Loads Alpaca-format instruction data: a JSON array of objects, or JSONL (one object per line), each with
/// a string <c>instruction</c>, an optional string <c>input</c> (missing or null = none) and a string <c>output</c>.
/// </summary>
/// <remarks>
/// <para>Format: a file whose first non-blank character is '[' is a JSON array; anything else is JSONL (blank
/// lines are skipped). A UTF-8 BOM is ignored. Every example keeps its 1-based line (for an array element, the
/// line where the element starts).</para>
/// <para>Errors (<see cref="DataFormatException"/>, message <c>file:line: problem</c>): invalid JSON; a record
/// that is not an object; <c>instruction</c> or <c>output</c> missing, not a string, or empty/blank; <c>input</c>
/// not a string. With <c>skipInvalid</c>, record-level problems drop the record (reported in
/// <see cref="AlpacaLoadResult.Dropped"/>) instead; broken JSON syntax in an array still throws because the rest of
/// the array cannot be read. Throws <see cref="FileNotFoundException"/> for a missing file and
/// <see cref="DataFormatException"/> when no example is left.</para>
/// </remarks>
public static class AlpacaDataset
{
    private static readonly JsonDocumentOptions DocOptions = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>Strict load: the first bad record throws.</summary>
    public static IReadOnlyList<InstructionExample> Load(string path) => LoadWithReport(path).Examples;

    /// <summary>Load with a report of kept and dropped records.</summary>
    public static AlpacaLoadResult LoadWithReport(string path, bool skipInvalid = false)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Dataset file '{path}' does not exist.", path);
        ReadOnlyMemory<byte> bytes = File.ReadAllBytes(path);
        if (bytes.Span.StartsWith(Utf8Bom)) bytes = bytes[3..];

        var examples = new List<InstructionExample>();
        var dropped = new List<DroppedRecord>();
        void Add(JsonElement element, int line)
        {
            try
            {
                examples.Add(ParseRecord(element, path, line).ToExample(path, line));
            }
            catch (DataFormatException ex) when (skipInvalid)
            {
                dropped.Add(new DroppedRecord(path, line, ex.Problem));
            }
        }

        if (FirstNonWhitespace(bytes.Span) == (byte)'[')
            ReadArray(bytes, path, Add);
        else
            ReadLines(bytes, path, Add, skipInvalid, dropped);

        if (examples.Count == 0)
            throw new DataFormatException(path, 1, dropped.Count == 0 ? "no examples in file" : $"no valid examples ({dropped.Count} dropped)");
        return new AlpacaLoadResult(examples, dropped);
    }

    /// <summary>Validates one record. Throws <see cref="DataFormatException"/> naming the field.</summary>
    internal static AlpacaRecord ParseRecord(JsonElement e, string file, int line)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new DataFormatException(file, line, $"record must be a JSON object, got {e.ValueKind}");
        string instruction = RequiredString(e, "instruction", file, line);
        string input = OptionalString(e, "input", file, line);
        string output = RequiredString(e, "output", file, line);
        return new AlpacaRecord(instruction, input, output);
    }

    private static string RequiredString(JsonElement e, string field, string file, int line)
    {
        if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
            throw new DataFormatException(file, line, $"field '{field}' is missing");
        if (v.ValueKind != JsonValueKind.String)
            throw new DataFormatException(file, line, $"field '{field}' must be a string, got {v.ValueKind}");
        string s = v.GetString()!;
        if (string.IsNullOrWhiteSpace(s))
            throw new DataFormatException(file, line, $"field '{field}' is empty");
        return s;
    }

    private static string OptionalString(JsonElement e, string field, string file, int line)
    {
        if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return "";
        if (v.ValueKind != JsonValueKind.String)
            throw new DataFormatException(file, line, $"field '{field}' must be a string, got {v.ValueKind}");
        return v.GetString()!;
    }

    private static void ReadArray(ReadOnlyMemory<byte> bytes, string path, Action<JsonElement, int> add)
    {
        var reader = new Utf8JsonReader(bytes.Span, new JsonReaderOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        // Lines are counted incrementally up to each element's first byte.
        int line = 1;
        long counted = 0;
        try
        {
            reader.Read(); // '['
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                long start = reader.TokenStartIndex;
                line += bytes.Span[(int)counted..(int)start].Count((byte)'\n');
                counted = start;
                using var element = JsonDocument.ParseValue(ref reader);
                add(element.RootElement, line);
            }
            if (reader.TokenType != JsonTokenType.EndArray)
                throw new DataFormatException(path, line + bytes.Span[(int)counted..].Count((byte)'\n'), "invalid JSON: the array is not closed");
            if (reader.Read())
                throw new DataFormatException(path, line + bytes.Span[(int)counted..(int)reader.TokenStartIndex].Count((byte)'\n'),
                    "invalid JSON: data after the closing ']'");
        }
        catch (JsonException ex)
        {
            throw new DataFormatException(path, (int)(ex.LineNumber ?? 0) + 1, $"invalid JSON: {ex.Message}", ex);
        }
    }

    private static void ReadLines(ReadOnlyMemory<byte> bytes, string path, Action<JsonElement, int> add,
        bool skipInvalid, List<DroppedRecord> dropped)
    {
        int line = 0, pos = 0;
        var span = bytes.Span;
        while (pos < span.Length)
        {
            line++;
            int nl = span[pos..].IndexOf((byte)'\n');
            int end = nl < 0 ? span.Length : pos + nl;
            var text = bytes[pos..end];
            pos = end + 1;
            if (IsBlank(text.Span)) continue;
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(text, DocOptions);
            }
            catch (JsonException ex)
            {
                // JSONL lines are independent, so a broken line can be skipped.
                if (!skipInvalid) throw new DataFormatException(path, line, $"invalid JSON: {ex.Message}", ex);
                dropped.Add(new DroppedRecord(path, line, "invalid JSON"));
                continue;
            }
            using (doc) add(doc.RootElement, line);
        }
    }

    private static byte FirstNonWhitespace(ReadOnlySpan<byte> s)
    {
        foreach (byte b in s)
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')) return b;
        return 0;
    }

    private static bool IsBlank(ReadOnlySpan<byte> s) => FirstNonWhitespace(s) == 0;
}
