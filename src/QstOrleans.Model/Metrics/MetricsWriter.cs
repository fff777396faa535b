using QstOrleans.Model.Training;
using System.Text;
using System.Text.Json;

namespace QstOrleans.Model.Metrics;

/// <summary>One line of <c>metrics.jsonl</c>; the evaluation fields are null on steps without evaluation.</summary>
public sealed record MetricsRecord(int Step, int Epoch, double Loss, double LearningRate, double GradNorm, double TokensPerSecond,
    long PeakRssBytes, double? ValLoss = null, double? ValPerplexity = null, double? MmluAccuracy = null)
{
    public static MetricsRecord From(StepReport r) => new(r.Step, r.Epoch, r.Loss, r.LearningRate, r.GradNorm, r.TokensPerSecond,
        r.PeakMemoryBytes, r.Evaluation?.ValidationLoss, r.Evaluation?.ValidationPerplexity, r.Evaluation?.MultipleChoiceAccuracy);
}

/// <summary>
/// Appends one JSON object per optimizer step to <c>metrics.jsonl</c>:
/// <c>{"step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "peak_rss_bytes"}</c> plus <c>val_loss</c>,
/// <c>val_ppl</c> and <c>mmlu_acc</c> on evaluated steps. Each line is flushed as written, so a crashed run keeps
/// its curve. Non-finite numbers (a diverged loss) are written as null: JSON has no NaN. The same scalars go to
/// TensorBoard event files in the same folder (<see cref="TensorBoardEvents"/>).
/// </summary>
public sealed class MetricsWriter : IDisposable
{
    public const string FileName = "metrics.jsonl";

    readonly StreamWriter _out;
    readonly TensorBoardEvents? _board;

    /// <param name="path">The file to create (overwritten).</param>
    /// <param name="tensorBoard">Also write TensorBoard events beside it.</param>
    public MetricsWriter(string path, bool tensorBoard = true)
    {
        Path = path;
        _out = new StreamWriter(path, append: false, new UTF8Encoding(false));
        if (tensorBoard) _board = new TensorBoardEvents(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
    }

    public string Path { get; }

    public void Write(StepReport report) => Write(MetricsRecord.From(report));

    public void Write(MetricsRecord r)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("step", r.Step);
            json.WriteNumber("epoch", r.Epoch);
            Number(json, "loss", r.Loss);
            Number(json, "lr", r.LearningRate);
            Number(json, "grad_norm", r.GradNorm);
            Number(json, "tokens_per_s", r.TokensPerSecond);
            json.WriteNumber("peak_rss_bytes", r.PeakRssBytes);
            if (r.ValLoss is { } vl) Number(json, "val_loss", vl);
            if (r.ValPerplexity is { } vp) Number(json, "val_ppl", vp);
            if (r.MmluAccuracy is { } acc) Number(json, "mmlu_acc", acc);
            json.WriteEndObject();
        }
        _out.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
        _out.Flush();
        _board?.Write(r);
    }

    static void Number(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, value);
        else json.WriteNull(name);
    }

    /// <summary>
    /// Reads a <c>metrics.jsonl</c> back (blank lines skipped; null numbers read as NaN).
    /// Throws <see cref="FileNotFoundException"/> and <see cref="InvalidDataException"/> (<c>file:line: problem</c>).
    /// </summary>
    public static IReadOnlyList<MetricsRecord> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"metrics file '{path}' does not exist", path);
        var records = new List<MetricsRecord>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var e = doc.RootElement;
                double Req(string name) => Opt(e, name) ?? throw new InvalidDataException($"field '{name}' is missing");
                records.Add(new MetricsRecord((int)Req("step"), (int)(Opt(e, "epoch") ?? 0), Req("loss"), Opt(e, "lr") ?? double.NaN,
                    Opt(e, "grad_norm") ?? double.NaN, Opt(e, "tokens_per_s") ?? double.NaN, (long)(Opt(e, "peak_rss_bytes") ?? 0),
                    Opt(e, "val_loss"), Opt(e, "val_ppl"), Opt(e, "mmlu_acc")));
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException or InvalidOperationException)
            {
                throw new InvalidDataException($"{path}:{lineNo}: {ex.Message}", ex);
            }
        }
        return records;
    }

    // A present null means "not finite" (see Number); an absent field means "not measured".
    static double? Opt(JsonElement e, string name) =>
        !e.TryGetProperty(name, out var v) ? null
        : v.ValueKind == JsonValueKind.Null ? double.NaN
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble()
        : throw new InvalidDataException($"field '{name}' must be a number, got {v.ValueKind}");

    public void Dispose() => _out.Dispose();
}
