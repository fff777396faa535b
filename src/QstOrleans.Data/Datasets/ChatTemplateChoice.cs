using System.Text.Json;

namespace QstOrleans.Data.Datasets;

/// <summary>
/// <c>--chat-template alpaca|FILE</c> (<c>data.chat_template</c>, and <c>qst chat</c>): which template renders chat
/// records and chat prompts. Empty = the model's own <c>chat_template</c> from <c>tokenizer_config.json</c> (else the
/// built-in plain template); <c>alpaca</c> = the Alpaca prompt (<see cref="ChatTemplateFamily.Alpaca"/>, what QST runs
/// train on); anything else is a file: a jinja template, or a JSON file with a <c>chat_template</c> field (a
/// <c>tokenizer_config.json</c> of another model).
/// </summary>
/// <remarks>Throws <see cref="ArgumentException"/> naming the option for a missing or empty file, a JSON file without
/// a string <c>chat_template</c>, or a template the jinja renderer cannot parse (a model's own template falls back to its
/// recognised family instead; a template asked for by name must be rendered as written).</remarks>
public static class ChatTemplateChoice
{
    /// <summary>The built-in name for the Alpaca prompt template.</summary>
    public const string Alpaca = "alpaca";

    /// <param name="choice">The option's value; null or empty = the model's own.</param>
    /// <param name="modelDirectory">Where the model's own template lives; null = none (the plain template).</param>
    public static ChatTemplate Resolve(string? choice, string? modelDirectory, string bosToken, string eosToken)
    {
        if (string.IsNullOrWhiteSpace(choice))
            return modelDirectory is null
                ? ChatTemplate.Recognize(null, bosToken, eosToken)
                : ChatTemplate.FromModelDirectory(modelDirectory, bosToken, eosToken);
        if (choice.Equals(Alpaca, StringComparison.OrdinalIgnoreCase)) return new ChatTemplate(ChatTemplateFamily.Alpaca, bosToken, eosToken);
        if (!File.Exists(choice))
            throw new ArgumentException($"--chat-template (data.chat_template): '{choice}' is neither '{Alpaca}' nor an existing template file");
        string text = File.ReadAllText(choice);
        if (Path.GetExtension(choice).Equals(".json", StringComparison.OrdinalIgnoreCase)) text = FromJson(choice, text);
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException($"--chat-template (data.chat_template): '{choice}' is empty");
        var template = ChatTemplate.FromJinja(text, bosToken, eosToken, choice);
        if (template.Family != ChatTemplateFamily.Jinja)
            throw new ArgumentException($"--chat-template (data.chat_template): {template.Warning}");
        return template;
    }

    static string FromJson(string file, string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true });
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("chat_template", out var t)
                   && t.ValueKind == JsonValueKind.String
                ? t.GetString()!
                : throw new ArgumentException($"--chat-template (data.chat_template): {file} has no string field 'chat_template'");
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"--chat-template (data.chat_template): {file}:{(ex.LineNumber ?? 0) + 1}: invalid JSON: {ex.Message}", ex);
        }
    }
}
