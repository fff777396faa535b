using System.Text.Json;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Templates;

namespace QstOrleans.Tests.Templates;

/// <summary>
/// Our jinja interpreter against jinja2's own renderings (golden/make_golden.py, transformers' environment) of the
/// chat templates of Llama-2, Llama-3, Llama-3.1, Mistral v0.1/v0.3, ChatML, Qwen2.5, Gemma, Phi-3 and a template that
/// exercises the interpreter (loop variables, filters, tests, slices, namespace, break/continue).
/// </summary>
public sealed class JinjaGoldenTests
{
    private static string Golden(string name) => Path.Combine(AppContext.BaseDirectory, "Templates", "golden", name);

    internal static string TemplateText(string name) => File.ReadAllText(Golden(Path.Combine("templates", name + ".jinja")));

    private static object? ToValue(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out long l) ? l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        JsonValueKind.Array => e.EnumerateArray().Select(ToValue).ToList(),
        _ => e.EnumerateObject().ToDictionary(p => p.Name, p => ToValue(p.Value)),
    };

    public static TheoryData<string> Templates => new(Directory.GetFiles(Golden("templates"), "*.jinja").Select(Path.GetFileNameWithoutExtension).Order()!);

    [Theory]
    [MemberData(nameof(Templates))]
    public void RendersEveryConversationAsJinja2Does(string template)
    {
        var conversations = JsonDocument.Parse(File.ReadAllText(Golden("conversations.json"))).RootElement.GetProperty("conversations");
        var parsed = JinjaTemplate.Parse(TemplateText(template));
        var cases = File.ReadLines(Golden("chat_golden.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(g => g.GetProperty("template").GetString() == template).ToList();
        Assert.Equal(14, cases.Count); // 7 conversations x add_generation_prompt false/true

        foreach (var g in cases)
        {
            string label = $"{template}/{g.GetProperty("conversation")}/agp={g.GetProperty("add_generation_prompt")}";
            var variables = new Dictionary<string, object?>
            {
                ["messages"] = ToValue(conversations.GetProperty(g.GetProperty("conversation").GetString()!)),
                ["add_generation_prompt"] = g.GetProperty("add_generation_prompt").GetBoolean(),
                ["bos_token"] = "<s>",
                ["eos_token"] = "</s>",
            };
            if (g.TryGetProperty("output", out var expected))
                Assert.True(expected.GetString() == parsed.Render(variables), $"{label}: expected {JsonSerializer.Serialize(expected.GetString())}, got {JsonSerializer.Serialize(parsed.Render(variables))}");
            else
            {
                var ex = Assert.Throws<JinjaException>(() => parsed.Render(variables));
                Assert.True(ex.RaisedByTemplate, label);
                Assert.Equal(g.GetProperty("error").GetString(), ex.Message);
            }
        }
    }

    [Fact]
    public void SyntaxErrorsAndUnsupportedTagsSayWhere()
    {
        var ex = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse("{% for x in %}{% endfor %}"));
        Assert.Contains("at 12", ex.Message);
        ex = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse("ok {% macro m() %}{% endmacro %}"));
        Assert.Contains("unsupported tag '{% macro %}' at 6", ex.Message);
        ex = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse("{% if true %}never closed"));
        Assert.Contains("endif", ex.Message);
    }
}
