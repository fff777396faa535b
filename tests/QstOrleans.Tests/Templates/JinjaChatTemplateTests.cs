using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Templates;

/// <summary>Training segments and generation prompts from a model's own jinja chat_template.</summary>
public sealed class JinjaChatTemplateTests
{
    private static readonly ChatMessage[] TwoTurns =
    [
        new(ChatRole.System, "You are terse."),
        new(ChatRole.User, " Hi "),
        new(ChatRole.Assistant, "Hello."),
        new(ChatRole.User, "Bye"),
        new(ChatRole.Assistant, "Bye."),
    ];

    private static ChatTemplate Load(string name, string bos = "<s>", string eos = "</s>") =>
        ChatTemplate.FromJinja(JinjaGoldenTests.TemplateText(name), bos, eos, name);

    [Fact]
    public void Llama3TrainsExactlyTheRepliesAndTheirEotTokens()
    {
        var t = Load("llama3_instruct", "<|begin_of_text|>", "<|end_of_text|>");
        Assert.Equal(ChatTemplateFamily.Jinja, t.Family);
        var segments = t.Render(TwoTurns);
        Assert.Equal(["Hello.<|eot_id|>", "Bye.<|eot_id|>"], segments.Where(s => s.Train).Select(s => s.Text));
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nBye.<|eot_id|>",
            string.Concat(segments.Select(s => s.Text)));
        Assert.EndsWith("<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            t.RenderPrompt(TwoTurns[..4]));
    }

    [Fact]
    public void Llama2SegmentsEqualTheCSharpFamilyRendering()
    {
        // Two independent renderers of the same template: the jinja interpreter and the hand-written Llama-2 family.
        var jinja = Load("llama2_chat");
        var family = ChatTemplate.Recognize(JinjaGoldenTests.TemplateText("llama2_chat"), "<s>", "</s>");
        Assert.Equal(ChatTemplateFamily.Llama2, family.Family);
        Assert.Equal(family.Render(TwoTurns), jinja.Render(TwoTurns));
    }

    [Fact]
    public void ChatMlTrainsTheReplyWithImEndAndNewline()
    {
        var segments = Load("chatml").Render(TwoTurns[1..3]);
        Assert.Equal(
            [new Segment("<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n", false), new Segment("Hello.<|im_end|>\n", true)],
            segments);
    }

    [Fact]
    public void TemplateRefusalNamesTheSource()
    {
        var t = Load("gemma");
        var ex = Assert.Throws<ArgumentException>(() => t.Render(TwoTurns));
        Assert.Contains("gemma", ex.Message);
        Assert.Contains("System role not supported", ex.Message);
    }

    [Fact]
    public void UnparsableTemplateFallsBackToTheRecognisedFamilyWithAWarning()
    {
        var t = ChatTemplate.FromJinja("{% macro m() %}<|im_start|>{% endmacro %}", "<s>", "</s>", "cfg.json chat_template");
        Assert.Equal(ChatTemplateFamily.ChatMl, t.Family);
        Assert.Contains("cfg.json chat_template is not supported by the jinja renderer", t.Warning);
    }
}
