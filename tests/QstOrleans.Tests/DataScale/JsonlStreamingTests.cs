using System.Text;
using System.Text.Json;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.DataScale;

/// <summary>
/// JSONL is streamed through a 1 MiB buffer: lines that straddle refills, a line longer than the buffer, a BOM, CRLF,
/// blank lines and a last line without a newline give the records (and line numbers) that splitting the whole file
/// into lines gives.
/// </summary>
public sealed class JsonlStreamingTests : IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void RecordsAndLinesMatchReadingTheWholeFile()
    {
        var rng = new Random(5);
        var lines = new List<string>();
        for (int i = 0; i < 3000; i++)
            lines.Add(i % 97 == 5 ? "   " : JsonSerializer.Serialize(new { text = $"doc {i} " + new string((char)('a' + i % 26), rng.Next(1, 2000)) }));
        lines[1500] = JsonSerializer.Serialize(new { text = "long " + new string('z', 3 << 20) });      // > the 1 MiB buffer
        string path = _dir["docs.jsonl"];
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(string.Join("\r\n", lines))]);   // BOM, CRLF, no final newline

        var records = DatasetLoader.Load(path, DatasetFormat.Text).Records.Cast<TextRecord>().ToList();

        // Independent reading: the whole file, split into lines.
        var expected = File.ReadAllLines(path).Select((l, i) => (Line: i + 1, Text: l))
            .Where(x => !string.IsNullOrWhiteSpace(x.Text))
            .Select(x => (x.Line, JsonDocument.Parse(x.Text).RootElement.GetProperty("text").GetString()))
            .ToList();
        Assert.Equal(expected, records.Select(r => (r.Line, (string?)r.Text)).ToList());
    }

    [Fact]
    public void ABadLineAfterSeveralRefillsIsNamedByItsLine()
    {
        var lines = Enumerable.Range(0, 2000).Select(i => JsonSerializer.Serialize(new { text = new string('q', 1000 + i) })).ToList();
        lines[1733] = "{\"text\": \"unclosed";
        string path = _dir["bad.jsonl"];
        File.WriteAllLines(path, lines);

        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.Load(path));
        Assert.Equal(1734, e.Line);

        var dropped = DatasetLoader.Load(path, skipInvalid: true);
        Assert.Equal(1999, dropped.Kept);
        Assert.Equal(new DroppedRecord(path, 1734, "invalid JSON"), Assert.Single(dropped.Dropped));
    }
}
