using System.Text.Json;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Data.Evaluation;

/// <summary>One four-way multiple-choice question (MMLU style).</summary>
/// <param name="Question">The question text.</param>
/// <param name="Choices">Exactly four answer texts, for the letters A, B, C, D.</param>
/// <param name="Answer">Index 0..3 of the correct choice (A = 0).</param>
/// <param name="Line">1-based line of the record in its file.</param>
public sealed record MmluQuestion(string Question, IReadOnlyList<string> Choices, int Answer, int Line);

/// <summary>
/// Loads an MMLU-style JSONL file: one object per line with a string <c>question</c>, the four choices either as
/// <c>choices</c> (an array of 4 strings) or as string fields <c>A</c>, <c>B</c>, <c>C</c>, <c>D</c>, and
/// <c>answer</c>: a letter "A".."D" (case-insensitive), or an integer 0..3 (the HF <c>cais/mmlu</c> form).
/// </summary>
/// <remarks>
/// Blank lines are skipped; a UTF-8 BOM is ignored. Throws <see cref="FileNotFoundException"/> for a missing file
/// and <see cref="DataFormatException"/> (<c>file:line: problem</c>, naming the field) for invalid JSON, a missing
/// or mistyped field, a choice count other than four, both or neither choice forms, an answer outside A..D, or a
/// file without questions.
/// </remarks>
public static class MmluFile
{
    public static readonly IReadOnlyList<string> Letters = ["A", "B", "C", "D"];

    public static IReadOnlyList<MmluQuestion> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"MMLU file '{path}' does not exist.", path);
        var questions = new List<MmluQuestion>();
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            string line = lineNo == 1 ? raw.TrimStart('\uFEFF') : raw;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                throw new DataFormatException(path, lineNo, $"invalid JSON: {e.Message}", e);
            }
            using (doc) questions.Add(Parse(doc.RootElement, path, lineNo));
        }
        if (questions.Count == 0) throw new DataFormatException(path, 1, "no questions in file");
        return questions;
    }

    /// <summary>Validates one record; throws <see cref="DataFormatException"/> naming the field.</summary>
    public static MmluQuestion Parse(JsonElement e, string file, int line)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new DataFormatException(file, line, $"record must be a JSON object, got {e.ValueKind}");
        string question = RequiredString(e, "question", file, line);
        bool hasArray = e.TryGetProperty("choices", out var array) && array.ValueKind != JsonValueKind.Null;
        bool hasLetters = Letters.Any(l => e.TryGetProperty(l, out _));
        if (hasArray && hasLetters)
            throw new DataFormatException(file, line, "give the choices either as 'choices' or as fields 'A'..'D', not both");
        List<string> choices;
        if (hasArray)
        {
            if (array.ValueKind != JsonValueKind.Array)
                throw new DataFormatException(file, line, $"field 'choices' must be an array of 4 strings, got {array.ValueKind}");
            if (array.GetArrayLength() != 4)
                throw new DataFormatException(file, line, $"field 'choices' must hold 4 strings, got {array.GetArrayLength()}");
            choices = array.EnumerateArray().Select((c, i) => c.ValueKind == JsonValueKind.String
                ? c.GetString()!
                : throw new DataFormatException(file, line, $"field 'choices'[{i}] must be a string, got {c.ValueKind}")).ToList();
        }
        else if (hasLetters)
        {
            choices = Letters.Select(l => RequiredString(e, l, file, line)).ToList();
        }
        else
        {
            throw new DataFormatException(file, line, "field 'choices' is missing (or give fields 'A', 'B', 'C', 'D')");
        }
        return new MmluQuestion(question, choices, ParseAnswer(e, file, line), line);
    }

    static int ParseAnswer(JsonElement e, string file, int line)
    {
        if (!e.TryGetProperty("answer", out var a) || a.ValueKind == JsonValueKind.Null)
            throw new DataFormatException(file, line, "field 'answer' is missing");
        if (a.ValueKind == JsonValueKind.Number && a.TryGetInt32(out int index) && index is >= 0 and < 4) return index;
        if (a.ValueKind == JsonValueKind.String)
        {
            string letter = a.GetString()!.Trim().ToUpperInvariant();
            int i = Letters.ToList().IndexOf(letter);
            if (i >= 0) return i;
        }
        throw new DataFormatException(file, line, $"field 'answer' must be a letter A..D (or 0..3), got {a.GetRawText()}");
    }

    static string RequiredString(JsonElement e, string field, string file, int line)
    {
        if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null)
            throw new DataFormatException(file, line, $"field '{field}' is missing");
        if (v.ValueKind != JsonValueKind.String)
            throw new DataFormatException(file, line, $"field '{field}' must be a string, got {v.ValueKind}");
        return v.GetString()!;
    }
}
