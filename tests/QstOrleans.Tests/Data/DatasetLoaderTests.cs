using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Data;

public sealed class DatasetLoaderTests
{
    private static ChatMessage U(string s) => new(ChatRole.User, s);
    private static ChatMessage A(string s) => new(ChatRole.Assistant, s);
    private static ChatMessage S(string s) => new(ChatRole.System, s);

    [Fact]
    public void ShareGptJsonArrayIsDetectedAndParsed()
    {
        using var dir = new TestDirectory();
        string path = dir.Write("chat.json", """
            [
              {"conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "Hi"},
                {"from": "gpt", "value": "Hello!"},
                {"from": "human", "value": "Bye"},
                {"from": "gpt", "value": "Bye!"}]},
              {"conversations": [{"from": "user", "value": "Q"}, {"from": "assistant", "value": "A"}]}
            ]
            """);
        var result = DatasetLoader.Load(path);
        Assert.Equal(DatasetFormat.Chat, result.Format);
        var first = Assert.IsType<ChatRecord>(result.Records[0]);
        Assert.Equal([S("Be brief."), U("Hi"), A("Hello!"), U("Bye"), A("Bye!")], first.Messages);
        Assert.Equal(2, first.Line);
        var second = Assert.IsType<ChatRecord>(result.Records[1]);
        Assert.Equal([U("Q"), A("A")], second.Messages);
        Assert.Equal(8, second.Line);
        Assert.Equal("chat.json (Chat): kept 2 of 2 records", result.Summary);
    }

    [Fact]
    public void OpenAiMessagesJsonl()
    {
        using var dir = new TestDirectory();
        string path = dir.Write("chat.jsonl",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"2+2?\"}, {\"role\": \"assistant\", \"content\": \"4\"}]}\n\n" +
            "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"y\"}]}\n");
        var result = DatasetLoader.Load(path);
        Assert.Equal(DatasetFormat.Chat, result.Format);
        Assert.Equal([U("2+2?"), A("4")], ((ChatRecord)result.Records[0]).Messages);
        Assert.Equal([S("S"), U("x"), A("y")], ((ChatRecord)result.Records[1]).Messages);
        Assert.Equal([1, 3], result.Records.Select(r => r.Line));
    }

    [Fact]
    public void AlpacaTextAndPreTokenizedAreDetected()
    {
        using var dir = new TestDirectory();
        var alpaca = DatasetLoader.Load(dir.Write("a.jsonl", "{\"instruction\": \"Do\", \"input\": \"x\", \"output\": \"done\"}\n"));
        Assert.Equal(DatasetFormat.Alpaca, alpaca.Format);
        Assert.Equal(new AlpacaRecord("Do", "x", "done"), ((InstructionRecord)alpaca.Records[0]).Alpaca);

        var text = DatasetLoader.Load(dir.Write("t.jsonl", "{\"text\": \"one doc\"}\n{\"text\": \"two\\ndocs\"}\n"));
        Assert.Equal(DatasetFormat.Text, text.Format);
        Assert.Equal(["one doc", "two\ndocs"], text.Records.Cast<TextRecord>().Select(r => r.Text));

        var tokens = DatasetLoader.Load(dir.Write("p.jsonl", "{\"input_ids\": [5, 6, 7], \"labels\": [-100, 6, 7]}\n{\"input_ids\": [8, 9]}\n"));
        Assert.Equal(DatasetFormat.PreTokenized, tokens.Format);
        var t0 = (TokenRecord)tokens.Records[0];
        var t1 = (TokenRecord)tokens.Records[1];
        Assert.Equal([5, 6, 7], t0.InputIds);
        Assert.Equal([-100, 6, 7], t0.Labels);
        Assert.Equal([8, 9], t1.InputIds);
        Assert.Equal([8, 9], t1.Labels); // labels default to the ids
    }

    [Fact]
    public void TxtFileIsOneDocument()
    {
        using var dir = new TestDirectory();
        string body = "First paragraph.\n\nSecond paragraph,\nstill the same document.\n";
        var result = DatasetLoader.Load(dir.Write("corpus.txt", body));
        Assert.Equal(DatasetFormat.Text, result.Format);
        var record = Assert.IsType<TextRecord>(Assert.Single(result.Records));
        Assert.Equal((body, 1), (record.Text, record.Line));
    }

    [Theory]
    [InlineData("{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\", \"output\": \"b\"\n", 2, "invalid JSON")]
    [InlineData("{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, {\"from\": \"gpt\", \"value\": \"  \"}]}\n", 1, "conversations[1]: empty response")]
    [InlineData("{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, {\"from\": \"gpt\", \"value\": \"a\"}]}\n{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, {\"from\": \"tool\", \"value\": \"a\"}]}\n", 2, "conversations[1]: wrong role 'tool'")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}\n", 1, "messages[0]: wrong role 'assistant'")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"system\", \"content\": \"s\"}]}\n", 1, "only the first message may be a system message")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n", 1, "no assistant turn")]
    [InlineData("{\"messages\": [{\"role\": \"user\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n", 1, "messages[0]: field 'content' is missing")]
    [InlineData("{\"text\": \"fine\"}\n\n{\"txt\": \"typo\"}\n", 3, "field 'text' is missing")]
    [InlineData("{\"input_ids\": [1, 2], \"labels\": [1]}\n", 1, "field 'labels' has 1 entries but 'input_ids' has 2")]
    [InlineData("{\"input_ids\": [1, 2], \"labels\": [1, -5]}\n", 1, "field 'labels'[1] is -5")]
    [InlineData("{\"prompt\": \"p\", \"completion\": \"c\"}\n", 1, "cannot detect the dataset format from the first record's fields [prompt, completion]")]
    public void BadRecordsNameFileAndLine(string content, int line, string problem)
    {
        using var dir = new TestDirectory();
        string path = dir.Write("bad.jsonl", content);
        var ex = Assert.Throws<DataFormatException>(() => DatasetLoader.Load(path));
        Assert.Equal(path, ex.File);
        Assert.Equal(line, ex.Line);
        Assert.Contains(problem, ex.Message);
        Assert.StartsWith($"{path}:{line}: ", ex.Message);
    }

    [Fact]
    public void SkipInvalidCountsDroppedRecordsWithReasons()
    {
        using var dir = new TestDirectory();
        string path = dir.Write("mixed.jsonl", string.Join('\n',
            "{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, {\"from\": \"gpt\", \"value\": \"a\"}]}",
            "{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, {\"from\": \"gpt\", \"value\": \"\"}]}",
            "not json",
            "{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, {\"from\": \"gpt\", \"value\": \" \"}]}",
            "{\"conversations\": [{\"from\": \"human\", \"value\": \"q2\"}, {\"from\": \"gpt\", \"value\": \"a2\"}]}"));
        var result = DatasetLoader.Load(path, skipInvalid: true);
        Assert.Equal([1, 5], result.Records.Select(r => r.Line));
        Assert.Equal([(2, "conversations[1]: empty response"), (3, "invalid JSON"), (4, "conversations[1]: empty response")],
            result.Dropped.Select(d => (d.Line, d.Reason)));
        Assert.Equal("mixed.jsonl (Chat): kept 2 of 5 records; dropped 3: conversations[1]: empty response (2); invalid JSON (1)", result.Summary);
    }

    [Fact]
    public void ExplicitFormatOverridesDetectionAndUnrecognisedTemplateWarns()
    {
        using var dir = new TestDirectory();
        // A record with both 'text' and 'instruction' is Alpaca by detection, Text when asked.
        string path = dir.Write("both.jsonl", "{\"instruction\": \"i\", \"output\": \"o\", \"text\": \"t\"}\n");
        Assert.Equal(DatasetFormat.Alpaca, DatasetLoader.Load(path).Format);
        Assert.Equal("t", ((TextRecord)DatasetLoader.Load(path, DatasetFormat.Text).Records[0]).Text);

        string chat = dir.Write("c.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}\n");
        var template = ChatTemplate.Recognize("{% for m in messages %}{{ m.content }}{% endfor %}", "<s>", "</s>");
        var result = DatasetLoader.Load(chat, chatTemplate: template);
        Assert.Contains("warning: unrecognised chat_template", result.Summary);
    }

    [Fact]
    public void MissingFileAndEmptyFile()
    {
        using var dir = new TestDirectory();
        Assert.Throws<FileNotFoundException>(() => DatasetLoader.Load(dir.File("nope.jsonl")));
        var ex = Assert.Throws<DataFormatException>(() => DatasetLoader.Load(dir.Write("empty.jsonl", "\n\n")));
        Assert.Contains("no records", ex.Message);
    }
}
