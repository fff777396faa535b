using System.Text.Json;

namespace QstOrleans.Data.Datasets;

/// <summary>
/// Reads the records of a JSON-array or JSONL data file and hands each one, with its 1-based line, to a parser.
/// </summary>
/// <remarks>
/// <para>A file whose first non-blank character is '[' is a JSON array; anything else is JSONL (blank lines are
/// skipped). A UTF-8 BOM is ignored. An array element's line is the line where the element starts.</para>
/// <para>The parser reports a bad record by throwing <see cref="DataFormatException"/>. With <c>skipInvalid</c>
/// such records (and unparsable JSONL lines) are added to <c>dropped</c> instead; broken JSON syntax inside an
/// array always throws because the rest of the array cannot be read. Throws <see cref="FileNotFoundException"/>
/// for a missing file.</para>
/// </remarks>
internal static class JsonRecordReader
{
    private static readonly JsonDocumentOptions DocOptions = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    public static void Read(string path, Action<JsonElement, int> parse, bool skipInvalid, List<DroppedRecord> dropped)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Dataset file '{path}' does not exist.", path);

        void Add(JsonElement element, int line)
        {
            try
            {
                parse(element, line);
            }
            catch (DataFormatException ex) when (skipInvalid)
            {
                dropped.Add(new DroppedRecord(path, line, ex.Problem));
            }
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        if (FirstNonWhitespace(stream) == (byte)'[')
        {
            // A JSON array is one document: it is read whole (JSONL, the format for large data, is streamed).
            ReadOnlyMemory<byte> bytes = File.ReadAllBytes(path);
            if (bytes.Span.StartsWith(Utf8Bom)) bytes = bytes[3..];
            ReadArray(bytes, path, Add);
        }
        else
        {
            stream.Position = 0;
            ReadLines(stream, path, Add, skipInvalid, dropped);
        }
    }

    /// <summary>The first byte after a BOM and whitespace (0 for an empty file), reading only as far as needed.</summary>
    private static byte FirstNonWhitespace(Stream stream)
    {
        var buffer = new byte[4096];
        bool first = true;
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            var span = buffer.AsSpan(0, n);
            if (first && span.StartsWith(Utf8Bom)) span = span[3..];   // a read of >= 3 bytes: files are not pipes here
            first = false;
            byte b = FirstNonWhitespace(span);
            if (b != 0) return b;
        }
        return 0;
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

    /// <summary>
    /// JSONL, streamed: one buffer (1 MiB, doubled for a longer line) holds the lines being parsed, so memory does not
    /// grow with the file.
    /// </summary>
    private static void ReadLines(Stream stream, string path, Action<JsonElement, int> add, bool skipInvalid, List<DroppedRecord> dropped)
    {
        var buffer = new byte[1 << 20];
        int start = 0, end = 0, line = 0;
        bool eof = false, first = true;
        while (true)
        {
            int nl = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
            if (nl < 0 && !eof)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, end - start);          // keep the partial line, refill behind it
                end -= start;
                start = 0;
                if (end == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
                int n = stream.Read(buffer, end, buffer.Length - end);
                eof = n == 0;
                end += n;
                if (first && end >= 3 && buffer.AsSpan(0, 3).SequenceEqual(Utf8Bom)) start = 3;
                first &= end < 3 && !eof;
                continue;
            }
            if (nl < 0 && start == end) return;                                // end of file after a newline
            int length = nl < 0 ? end - start : nl;
            Line(buffer.AsMemory(start, length), ++line);
            start += nl < 0 ? length : length + 1;
        }

        void Line(ReadOnlyMemory<byte> text, int line)
        {
            if (IsBlank(text.Span)) return;
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
                return;
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

    // ---- field helpers shared by the record parsers ----

    public static void RequireObject(JsonElement e, string file, int line, string what = "record")
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new DataFormatException(file, line, $"{what} must be a JSON object, got {e.ValueKind}");
    }

    /// <summary>A string field that must be present; <paramref name="allowEmpty"/> false rejects blank text.</summary>
    public static string RequiredString(JsonElement e, string field, string file, int line, bool allowEmpty = false, string prefix = "")
    {
        if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
            throw new DataFormatException(file, line, $"{prefix}field '{field}' is missing");
        if (v.ValueKind != JsonValueKind.String)
            throw new DataFormatException(file, line, $"{prefix}field '{field}' must be a string, got {v.ValueKind}");
        string s = v.GetString()!;
        if (!allowEmpty && string.IsNullOrWhiteSpace(s))
            throw new DataFormatException(file, line, $"{prefix}field '{field}' is empty");
        return s;
    }

    public static string OptionalString(JsonElement e, string field, string file, int line)
    {
        if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return "";
        if (v.ValueKind != JsonValueKind.String)
            throw new DataFormatException(file, line, $"field '{field}' must be a string, got {v.ValueKind}");
        return v.GetString()!;
    }
}
