using System.Text.Json;
using QstOrleans.Cli.Generate;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Tests.Tokenization;

namespace QstOrleans.Tests.Templates;

/// <summary><c>qst chat</c>'s prompt from the model's own template, and special-token text mapped to ids.</summary>
public sealed class ChatPromptTests
{
    private static string GoldenRendering(string template, string conversation, bool addGenerationPrompt) =>
        File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Templates", "golden", "chat_golden.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Single(g => g.GetProperty("template").GetString() == template && g.GetProperty("conversation").GetString() == conversation
                         && g.GetProperty("add_generation_prompt").GetBoolean() == addGenerationPrompt)
            .GetProperty("output").GetString()!;

    [Theory]
    [InlineData("chatml")]
    [InlineData("llama3_instruct")]
    [InlineData("qwen25")]
    public void ChatTranscriptIsJinja2sGenerationPrompt(string name)
    {
        // jinja2 rendered the "multi" conversation (user, assistant, user) with add_generation_prompt=True.
        var template = ChatTemplate.FromJinja(JinjaGoldenTests.TemplateText(name), "<s>", "</s>", name);
        string prompt = ChatCommand.Transcript(template, [("Hi there", "Hello! How can I help?")], "Tell me a joke.");
        Assert.Equal(GoldenRendering(name, "multi", addGenerationPrompt: true), prompt);
    }

    [Fact]
    public void SpecialTokenTextBecomesItsIdAndTheRestIsEncodedAsText()
    {
        using var dir = new TestDirectory();
        File.Copy(SentencePieceGoldenTests.GoldenFile("bpe_llama.model"), dir.File("tokenizer.model"));
        var tok = ModelTokenizer.Load(dir.Path);
        Assert.Equal([1, .. tok.Encode("[INST] hi [/INST]"), 2], tok.EncodeWithSpecialTokens("<s>[INST] hi [/INST]</s>"));
        Assert.Equal(tok.Encode("no specials here"), tok.EncodeWithSpecialTokens("no specials here"));
    }
}
