using QstOrleans.Data.Datasets;
using QstOrleans.Data.Evaluation;
using QstOrleans.Tests.Engine;

namespace QstOrleans.Tests.Evaluation;

/// <summary>MMLU-style JSONL parsing: both choice forms, letter and index answers, errors naming file:line.</summary>
public sealed class MmluFileTests : IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ReadsBothChoiceFormsAndAnswerForms()
    {
        string file = _dir.Write("ok.jsonl", string.Join('\n',
            """{"question": "q1", "choices": ["a", "b", "c", "d"], "answer": "C"}""",
            "",
            """{"question": "q2", "A": "w", "B": "x", "C": "y", "D": "z", "answer": "a"}""",
            """{"question": "q3", "choices": ["1", "2", "3", "4"], "answer": 3}"""));
        var qs = MmluFile.Load(file);
        Assert.Equal(["q1", "q2", "q3"], qs.Select(q => q.Question));
        Assert.Equal([2, 0, 3], qs.Select(q => q.Answer));
        Assert.Equal([1, 3, 4], qs.Select(q => q.Line));
        Assert.Equal(["w", "x", "y", "z"], qs[1].Choices);
    }

    [Theory]
    [InlineData("""{"question": "q", "choices": ["a", "b", "c", "d"]}""", "field 'answer' is missing")]
    [InlineData("""{"question": "q", "choices": ["a", "b", "c", "d"], "answer": "E"}""", "field 'answer' must be a letter A..D")]
    [InlineData("""{"question": "q", "choices": ["a", "b", "c"], "answer": "A"}""", "field 'choices' must hold 4 strings, got 3")]
    [InlineData("""{"question": "q", "A": "a", "B": "b", "C": "c", "answer": "A"}""", "field 'D' is missing")]
    [InlineData("""{"choices": ["a", "b", "c", "d"], "answer": "A"}""", "field 'question' is missing")]
    [InlineData("""{"question": "q", "answer": "A"}""", "field 'choices' is missing")]
    [InlineData("{\"question\": \"q\", \"choices\": [\"a\"", "invalid JSON")]
    public void ABadRecordIsReportedWithFileAndLine(string bad, string problem)
    {
        string file = _dir.Write("bad.jsonl", string.Join('\n',
            """{"question": "fine", "choices": ["a", "b", "c", "d"], "answer": "B"}""",
            "   ",
            bad));
        var e = Assert.Throws<DataFormatException>(() => MmluFile.Load(file));
        Assert.Equal(3, e.Line);
        Assert.StartsWith($"{file}:3: ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void AnEmptyFileIsRefused()
    {
        string file = _dir.Write("empty.jsonl", "\n\n");
        Assert.Contains("no questions", Assert.Throws<DataFormatException>(() => MmluFile.Load(file)).Message);
    }
}
