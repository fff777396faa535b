using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Data;

public sealed class ChatTemplateTests
{
    // The chat_template texts of the model families (as in their tokenizer_config.json files).
    private const string Llama2Jinja =
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
        "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}" +
        "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
        "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
        "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
    private const string Llama3Jinja =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + " +
        "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}" +
        "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
    private const string ChatMlJinja =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    private static readonly ChatMessage[] TwoTurns =
    [
        new(ChatRole.System, "You are terse."),
        new(ChatRole.User, " Hi "),
        new(ChatRole.Assistant, "Hello."),
        new(ChatRole.User, "Bye"),
        new(ChatRole.Assistant, "Bye."),
    ];

    [Fact]
    public void Llama2RendersTheMetaString()
    {
        var t = ChatTemplate.Recognize(Llama2Jinja, "<s>", "</s>");
        Assert.Equal((ChatTemplateFamily.Llama2, (string?)null), (t.Family, t.Warning));
        Assert.Equal(
            "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\n Hi [/INST] Hello. </s><s>[INST] Bye [/INST] Bye. </s>",
            t.RenderText(TwoTurns));
        Assert.Equal(
            [new Segment("<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\n Hi [/INST]", false), new Segment(" Hello. </s>", true),
             new Segment("<s>[INST] Bye [/INST]", false), new Segment(" Bye. </s>", true)],
            t.Render(TwoTurns));
        // Without a system message the user content is stripped.
        Assert.Equal("<s>[INST] Hi [/INST] Hello. </s>", t.RenderText(TwoTurns[1..3]));
    }

    [Fact]
    public void Llama3RendersHeadersAndEotAndTrainsOnlyAssistantText()
    {
        var t = ChatTemplate.Recognize(Llama3Jinja, "<|begin_of_text|>", "<|end_of_text|>");
        Assert.Equal(ChatTemplateFamily.Llama3, t.Family);
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nBye.<|eot_id|>",
            t.RenderText(TwoTurns));
        var trained = t.Render(TwoTurns).Where(s => s.Train).Select(s => s.Text);
        Assert.Equal(["Hello.<|eot_id|>", "Bye.<|eot_id|>"], trained);
    }

    [Fact]
    public void ChatMlRendersImStartBlocks()
    {
        var t = ChatTemplate.Recognize(ChatMlJinja, "<s>", "<|im_end|>");
        Assert.Equal((ChatTemplateFamily.ChatMl, (string?)null), (t.Family, t.Warning));
        Assert.Equal(
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n" +
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nBye.<|im_end|>\n",
            t.RenderText(TwoTurns));
        Assert.Equal(["Hello.<|im_end|>", "Bye.<|im_end|>"], t.Render(TwoTurns).Where(s => s.Train).Select(s => s.Text));
    }

    [Fact]
    public void PlainFallbackAndWarnings()
    {
        var none = ChatTemplate.Recognize(null, "<s>", "</s>");
        Assert.Equal((ChatTemplateFamily.Plain, (string?)null), (none.Family, none.Warning));
        Assert.Equal(
            "<s>### System:\nYou are terse.\n\n### User:\n Hi \n\n### Assistant:\nHello.</s>\n\n### User:\nBye\n\n### Assistant:\nBye.</s>",
            none.RenderText(TwoTurns));
        Assert.Equal(["Hello.</s>", "Bye.</s>"], none.Render(TwoTurns).Where(s => s.Train).Select(s => s.Text));

        // Mistral's [INST] template without <<SYS>> spaces turns differently: not claimed as Llama-2.
        var mistral = ChatTemplate.Recognize("{{ bos_token }}{% for message in messages %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endfor %}", "<s>", "</s>");
        Assert.Equal(ChatTemplateFamily.Plain, mistral.Family);
        Assert.Contains("unrecognised chat_template", mistral.Warning);

        var llama31 = ChatTemplate.Recognize(Llama3Jinja + "Cutting Knowledge Date: December 2023", "<|begin_of_text|>", "<|eot_id|>");
        Assert.Equal(ChatTemplateFamily.Llama3, llama31.Family);
        Assert.Contains("Cutting Knowledge Date", llama31.Warning);
    }

    [Fact]
    public void FromModelDirectoryReadsStringOrNamedList()
    {
        using var dir = new TestDirectory();
        Assert.Equal(ChatTemplateFamily.Plain, ChatTemplate.FromModelDirectory(dir.Path, "<s>", "</s>").Family);
        dir.Write("tokenizer_config.json", System.Text.Json.JsonSerializer.Serialize(new { chat_template = Llama3Jinja }));
        // The model's own template is rendered by the jinja interpreter (family Jinja).
        var llama3 = ChatTemplate.FromModelDirectory(dir.Path, "<s>", "</s>");
        Assert.Equal(ChatTemplateFamily.Jinja, llama3.Family);
        Assert.StartsWith("<s><|start_header_id|>user<|end_header_id|>", llama3.RenderText(TwoTurns[1..3]));
        dir.Write("tokenizer_config.json", System.Text.Json.JsonSerializer.Serialize(new
        {
            chat_template = new[] { new { name = "tool_use", template = Llama3Jinja }, new { name = "default", template = ChatMlJinja } },
        }));
        var chatMl = ChatTemplate.FromModelDirectory(dir.Path, "<s>", "</s>");
        Assert.Equal(ChatTemplateFamily.Jinja, chatMl.Family);
        Assert.StartsWith("<|im_start|>user\n", chatMl.RenderText(TwoTurns[1..3]));
    }

    [Fact]
    public void OutOfOrderTurnsAreRejected()
    {
        var t = ChatTemplate.Recognize(null, "<s>", "</s>");
        var ex = Assert.Throws<ArgumentException>(() => t.Render([new(ChatRole.User, "a"), new(ChatRole.User, "b")]));
        Assert.Contains("Message 1 is user, expected assistant", ex.Message);
    }
}
