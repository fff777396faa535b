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
    /// <summary>Strict load: the first bad record throws.</summary>
    public static IReadOnlyList<InstructionExample> Load(string path) => LoadWithReport(path).Examples;

    /// <summary>Load with a report of kept and dropped records.</summary>
    public static AlpacaLoadResult LoadWithReport(string path, bool skipInvalid = false)
    {
        var examples = new List<InstructionExample>();
        var dropped = new List<DroppedRecord>();
        JsonRecordReader.Read(path, (element, line) => examples.Add(ParseRecord(element, path, line).ToExample(path, line)),
            skipInvalid, dropped);
        if (examples.Count == 0)
            throw new DataFormatException(path, 1, dropped.Count == 0 ? "no examples in file" : $"no valid examples ({dropped.Count} dropped)");
        return new AlpacaLoadResult(examples, dropped);
    }

    /// <summary>Validates one record. Throws <see cref="DataFormatException"/> naming the field.</summary>
    internal static AlpacaRecord ParseRecord(JsonElement e, string file, int line)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new DataFormatException(file, line, $"record must be a JSON object, got {e.ValueKind}");
        string instruction = JsonRecordReader.RequiredString(e, "instruction", file, line);
        string input = JsonRecordReader.OptionalString(e, "input", file, line);
        string output = JsonRecordReader.RequiredString(e, "output", file, line);
        return new AlpacaRecord(instruction, input, output);
    }
}
