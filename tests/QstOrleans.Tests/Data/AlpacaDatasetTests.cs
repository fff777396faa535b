using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Data;

public sealed class AlpacaDatasetTests
{
    // The QLoRA ALPACA_PROMPT_DICT texts, written out literally.
    private const string WithInput =
        "Below is an instruction that describes a task, paired with an input that provides further context. " +
        "Write a response that appropriately completes the request.\n\n" +
        "### Instruction:\nTranslate.\n\n### Input:\nbonjour\n\n### Response: ";
    private const string NoInput =
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n" +
        "### Instruction:\nSay hi.\n\n### Response: ";

    [Fact]
    public void JsonArrayGoldenParse()
    {
        using var dir = new TestDirectory();
        string path = dir.Write("data.json", """
            [
              {"instruction": "Translate.", "input": "bonjour", "output": "hello"},
              {
                "instruction": "Say hi.",
                "output": "hi"
              },
              {"instruction": "Say hi.", "input": null, "output": "hi"}
            ]
            """);
        var examples = AlpacaDataset.Load(path);
        Assert.Equal(
            [
                new InstructionExample(WithInput, "hello", path, 2),
                new InstructionExample(NoInput, "hi", path, 3),
                new InstructionExample(NoInput, "hi", path, 7),
            ],
            examples);
    }

    [Fact]
    public void JsonlGoldenParseSkipsBlankLinesAndBom()
    {
        using var dir = new TestDirectory();
        string path = dir.File("data.jsonl");
        File.WriteAllText(path,
            "\uFEFF{\"instruction\": \"Translate.\", \"input\": \"bonjour\", \"output\": \"hello\"}\r\n\n" +
            "{\"instruction\": \"Say hi.\", \"input\": \"\", \"output\": \"hi\"}\n",
            new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        var result = AlpacaDataset.LoadWithReport(path);
        Assert.Equal(
            [new InstructionExample(WithInput, "hello", path, 1), new InstructionExample(NoInput, "hi", path, 3)],
            result.Examples);
        Assert.Equal("kept 2 of 2 examples", result.Summary);
    }

    [Theory]
    [InlineData("{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\", \"output\": \"b\"\n", 3, "invalid JSON")]
    [InlineData("{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\"}\n", 2, "field 'output' is missing")]
    [InlineData("{\"instruction\": \"  \", \"output\": \"b\"}\n", 1, "field 'instruction' is empty")]
    [InlineData("\n\n{\"instruction\": \"a\", \"output\": 7}\n", 3, "field 'output' must be a string, got Number")]
    [InlineData("{\"instruction\": \"a\", \"input\": [1], \"output\": \"b\"}\n", 1, "field 'input' must be a string, got Array")]
    [InlineData("{\"instruction\": \"a\", \"output\": \"b\"}\n[1, 2]\n", 2, "record must be a JSON object, got Array")]
    public void JsonlErrorsNameFileAndLine(string content, int line, string problem)
    {
        using var dir = new TestDirectory();
        string path = dir.Write("data.jsonl", content);
        var ex = Assert.Throws<DataFormatException>(() => AlpacaDataset.Load(path));
        Assert.StartsWith($"{path}:{line}: {problem}", ex.Message);
        Assert.Equal(line, ex.Line);
    }

    [Fact]
    public void JsonArrayBadElementReportsItsLine()
    {
        using var dir = new TestDirectory();
        string path = dir.Write("data.json",
            "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n\n  {\"instruction\": \"a\",\n   \"output\": \"\"}\n]\n");
        var ex = Assert.Throws<DataFormatException>(() => AlpacaDataset.Load(path));
        Assert.Equal($"{path}:4: field 'output' is empty", ex.Message);
    }

    [Fact]
    public void JsonArraySyntaxErrorReportsItsLine()
    {
        using var dir = new TestDirectory();
        string path = dir.Write("data.json",
            "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n  {\"instruction\": \"a\" \"output\": \"b\"}\n]\n");
        var ex = Assert.Throws<DataFormatException>(() => AlpacaDataset.Load(path));
        Assert.StartsWith($"{path}:3: invalid JSON", ex.Message);
    }

    [Fact]
    public void UnclosedArrayIsReported()
    {
        using var dir = new TestDirectory();
        string path = dir.Write("data.json", "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n");
        var ex = Assert.Throws<DataFormatException>(() => AlpacaDataset.Load(path));
        Assert.Contains("invalid JSON", ex.Message);
        Assert.StartsWith(path + ":", ex.Message);
    }

    [Fact]
    public void SkipInvalidReportsDroppedRecordsWithReasons()
    {
        using var dir = new TestDirectory();
        string path = dir.Write("data.jsonl",
            "{\"instruction\": \"a\", \"output\": \"b\"}\n" +
            "{\"instruction\": \"a\"}\n" +
            "{oops\n" +
            "{\"instruction\": \"a\", \"output\": \"b\"}\n" +
            "{\"instruction\": \"c\"}\n");
        var result = AlpacaDataset.LoadWithReport(path, skipInvalid: true);
        Assert.Equal([1, 4], result.Examples.Select(e => e.Line));
        Assert.Equal(
            [
                new DroppedRecord(path, 2, "field 'output' is missing"),
                new DroppedRecord(path, 3, "invalid JSON"),
                new DroppedRecord(path, 5, "field 'output' is missing"),
            ],
            result.Dropped);
        Assert.Equal("kept 2 of 5 examples; dropped 3: field 'output' is missing (2); invalid JSON (1)", result.Summary);
    }

    [Fact]
    public void EmptyFileAndMissingFileAreErrors()
    {
        using var dir = new TestDirectory();
        string empty = dir.Write("empty.jsonl", "\n\n");
        Assert.Equal($"{empty}:1: no examples in file", Assert.Throws<DataFormatException>(() => AlpacaDataset.Load(empty)).Message);
        Assert.Throws<FileNotFoundException>(() => AlpacaDataset.Load(dir.File("nope.json")));
    }
}
