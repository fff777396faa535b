using System.Text.Json;
using QstOrleans.Configuration;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Recipe;
using QstOrleans.Tests.Cli;

namespace QstOrleans.Tests.Templates;

/// <summary>
/// <c>--chat-template alpaca|FILE</c>: "alpaca" renders a chat turn exactly as the Alpaca record with the same
/// instruction and output; a jinja file (or a JSON file's <c>chat_template</c>) renders as the C# family it spells out;
/// <c>data.chat_template</c> reaches training data and is part of the token cache's key; bad values name the option.
/// </summary>
public sealed class ChatTemplateChoiceTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    const string ChatMlJinja =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "be brief"), new(ChatRole.User, "add 2 and 3"), new(ChatRole.Assistant, "5"),
        new(ChatRole.User, "and 4?"), new(ChatRole.Assistant, "9"),
    ];

    [Fact]
    public void AlpacaRendersAChatTurnAsTheAlpacaRecord()
    {
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var template = ChatTemplateChoice.Resolve("alpaca", tiny.ModelDirectory, tokenizer.BosToken, tokenizer.EosToken);
        Assert.Equal(ChatTemplateFamily.Alpaca, template.Family);
        var collator = new SegmentCollator(tokenizer, template, new SegmentCollatorOptions(int.MaxValue));
        var chat = collator.Tokenize(new ChatRecord([new(ChatRole.User, "name a colour"), new(ChatRole.Assistant, "blue")], "c", 1));
        var alpaca = collator.Tokenize(new InstructionRecord(new AlpacaRecord("name a colour", "", "blue"), "a", 1));
        Assert.Equal(alpaca.InputIds, chat.InputIds);
        Assert.Equal(alpaca.Labels, chat.Labels);

        // Several turns: the system message replaces the header, each reply (with EOS) is trained, nothing else.
        string text = template.RenderText(Conversation);
        Assert.Equal($"{tokenizer.BosToken}be brief\n\n### Instruction:\nadd 2 and 3\n\n### Response: 5{tokenizer.EosToken}" +
                     $"\n\n### Instruction:\nand 4?\n\n### Response: 9{tokenizer.EosToken}", text);
        Assert.Equal(["5" + tokenizer.EosToken, "9" + tokenizer.EosToken], template.Render(Conversation).Where(s => s.Train).Select(s => s.Text));
    }

    [Fact]
    public void AJinjaOrJsonFileRendersAsTheFamilyItSpellsOut()
    {
        string jinja = _dir.Write("chatml.jinja", ChatMlJinja);
        string json = _dir.Write("tokenizer_config.json", JsonSerializer.Serialize(new { chat_template = ChatMlJinja }));
        var expected = new ChatTemplate(ChatTemplateFamily.ChatMl, "<s>", "</s>");
        foreach (string file in new[] { jinja, json })
        {
            var template = ChatTemplateChoice.Resolve(file, tiny.ModelDirectory, "<s>", "</s>");
            Assert.Equal(ChatTemplateFamily.Jinja, template.Family);
            Assert.Equal(expected.RenderText(Conversation), template.RenderText(Conversation));
            // Jinja templates train each reply through the end of its turn as the template prints it (JinjaChat).
            Assert.Equal(["5<|im_end|>\n", "9<|im_end|>\n"], template.Render(Conversation).Where(s => s.Train).Select(s => s.Text));
        }
    }

    [Theory]
    [InlineData("no-such-template", "neither 'alpaca' nor an existing template file")]
    [InlineData("empty.jinja", "is empty")]
    [InlineData("other.json", "no string field 'chat_template'")]
    [InlineData("broken.jinja", "broken.jinja")]
    public void BadChoicesNameTheOption(string choice, string problem)
    {
        _dir.Write("empty.jinja", " ");
        _dir.Write("other.json", """{"bos_token": "<s>"}""");
        _dir.Write("broken.jinja", "{% for message in %}");
        string value = choice.Contains('.') ? _dir[choice] : choice;
        var ex = Assert.Throws<ArgumentException>(() => ChatTemplateChoice.Resolve(value, tiny.ModelDirectory, "<s>", "</s>"));
        Assert.Contains("--chat-template", ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Fact]
    public void TheConfigKeyReachesTrainingDataAndTheCacheKey()
    {
        string chat = _dir["chat.jsonl"], alpaca = _dir["alpaca.jsonl"];
        var pairs = Enumerable.Range(0, 24).Select(i => ($"what is {i} plus {i}", $"{2 * i}")).ToList();
        File.WriteAllLines(chat, pairs.Select(p => JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = p.Item1 }, new { role = "assistant", content = p.Item2 } },
        })));
        File.WriteAllLines(alpaca, pairs.Select(p => JsonSerializer.Serialize(new { instruction = p.Item1, input = "", output = p.Item2 })));
        var config = TrainingConfig.Defaults with { Schedule = TrainingConfig.Defaults.Schedule with { MicroBatchSize = 4 } };
        var withAlpaca = config with { Data = config.Data with { ChatTemplate = "alpaca" } };
        var cache = new QstOrleans.Data.Datasets.Cache.TokenCacheOptions(CacheRoot: _dir["root"]);
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);

        var own = DataPlan.Load(config, chat, tokenizer, tiny.ModelDirectory, cache);
        long calls = tokenizer.EncodeCalls;
        var overridden = DataPlan.Load(withAlpaca, chat, tokenizer, tiny.ModelDirectory, cache);
        Assert.True(tokenizer.EncodeCalls > calls, "another template must miss the cache");
        var reference = DataPlan.Load(config, alpaca, tokenizer, tiny.ModelDirectory, cache);

        Assert.Equal(reference.ExampleCount, overridden.ExampleCount);
        for (int i = 0; i < reference.ExampleCount; i++)
        {
            Assert.Equal(reference.Examples[i].InputIds, overridden.Examples[i].InputIds);
            Assert.Equal(reference.Examples[i].Labels, overridden.Examples[i].Labels);
        }
        Assert.NotEqual(own.Examples[0].InputIds, overridden.Examples[0].InputIds);
    }
}
