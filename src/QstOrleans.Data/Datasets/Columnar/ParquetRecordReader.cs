using System.Text.Json;
using Parquet;
using Parquet.Serialization;

namespace QstOrleans.Data.Datasets.Columnar;

/// <summary>
/// Reads the rows of a Parquet file (Hugging Face datasets' native format) and hands each one, as the JSON object a
/// JSONL line would hold, with its 1-based row number, to the same record parsers as JSON data: the same shapes
/// (Alpaca <c>instruction/input/output</c>, <c>text</c>, <c>messages</c>/<c>conversations</c> as lists of structs,
/// <c>input_ids</c>/<c>labels</c> as integer lists) and the same validation and messages, with "line" meaning row.
/// </summary>
/// <remarks>
/// One row group is in memory at a time (<see cref="ParquetSerializer.DeserializeUntypedAsync"/> per group), so a
/// large file is streamed group by group. The caller is synchronous (planning runs off the grain scheduler), so the
/// library's async reads are waited on here. A file Parquet.Net cannot read is a <see cref="DataFormatException"/> at
/// row 1 naming the reason.
/// </remarks>
internal static class ParquetRecordReader
{
    /// <summary>True for a <c>.parquet</c> file.</summary>
    public static bool Handles(string path) => string.Equals(Path.GetExtension(path), ".parquet", StringComparison.OrdinalIgnoreCase);

    public static void Read(string path, Action<JsonElement, int> parse, bool skipInvalid, List<DroppedRecord> dropped)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Dataset file '{path}' does not exist.", path);
        int groups;
        try
        {
            using var stream = Open(path);
            var reader = ParquetReader.CreateAsync(stream).GetAwaiter().GetResult();
            groups = reader.RowGroupCount;
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new DataFormatException(path, 1, $"not a readable Parquet file: {e.Message}", e);
        }

        int row = 0;
        for (int g = 0; g < groups; g++)
        {
            IList<Dictionary<string, object>> rows;
            using (var stream = Open(path))
                rows = ParquetSerializer.DeserializeUntypedAsync(stream, null, g).GetAwaiter().GetResult().Data;
            foreach (var values in rows)
            {
                row++;
                var element = JsonSerializer.SerializeToElement(values);   // lists of structs become arrays of objects
                try
                {
                    parse(element, row);
                }
                catch (DataFormatException ex) when (skipInvalid)
                {
                    dropped.Add(new DroppedRecord(path, row, ex.Problem));
                }
            }
        }
    }

    static FileStream Open(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
}
