using System.Text.Json;

namespace QstOrleans.Data.Datasets;

/// <summary>The chat-template families <see cref="ChatTemplate"/> renders in C#.</summary>
public enum ChatTemplateFamily
{
    /// <summary>Fallback: <c>bos "### System:\n" s "\n\n### User:\n" u "\n\n### Assistant:\n" a eos</c> ...</summary>
    Plain,
    /// <summary>Llama-2 chat: <c>&lt;s&gt;[INST] &lt;&lt;SYS&gt;&gt;\n s \n&lt;&lt;/SYS&gt;&gt;\n\n u [/INST] a &lt;/s&gt;</c>.</summary>
    Llama2,
    /// <summary>Llama-3 instruct: <c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n text&lt;|eot_id|&gt;</c>.</summary>
    Llama3,
    /// <summary>ChatML (Qwen, OpenHermes, ...): <c>&lt;|im_start|&gt;role\n text&lt;|im_end|&gt;\n</c>.</summary>
    ChatMl,
    /// <summary>The model's own jinja <c>chat_template</c>, rendered by <see cref="Templates.JinjaChat"/>.</summary>
    Jinja,
    /// <summary><c>--chat-template alpaca</c>: <c>bos</c> + the Alpaca header (or the system message), then per turn
    /// <c>"### Instruction:\n" u "\n\n### Response: "</c> and the trained <c>a eos</c>, turns joined by "\n\n".</summary>
    Alpaca,
}

/// <summary>
/// A model's chat template: the model's own jinja <c>chat_template</c> (<see cref="FromModelDirectory"/>,
/// <see cref="FromJinja"/>: rendered by our jinja interpreter, identical to transformers/jinja2 on the tested
/// families), or one of the families re-implemented in C# (<see cref="Recognize"/>: the fallback for templates the
/// interpreter cannot parse or render incrementally, and the plain template for models without one).
/// </summary>
/// <remarks>
/// <para>Recognition (<see cref="Recognize"/>): <c>&lt;|start_header_id|&gt;</c> → Llama-3; <c>&lt;|im_start|&gt;</c>
/// → ChatML; <c>[INST]</c> together with <c>&lt;&lt;SYS&gt;&gt;</c> → Llama-2 (Mistral's <c>[INST]</c> template
/// spaces turns differently and is NOT matched); no template → Plain silently; anything else → Plain with a
/// <see cref="Warning"/>. Known gaps, also reported as warnings: Llama-3.1's default "Cutting Knowledge Date" system
/// message and Qwen's default system prompt are not added.</para>
/// <para>Loss: each assistant turn's text plus the template's end-of-turn token (<c>eos</c>, <c>&lt;|eot_id|&gt;</c>,
/// <c>&lt;|im_end|&gt;</c>) is trained; role headers, system and user turns are not. Llama-2's assistant turn
/// <c>" " + text + " " + eos</c> is trained whole, including its leading space, as the template emits it in one piece.</para>
/// <para><see cref="Render"/> throws <see cref="ArgumentException"/> when the turns do not follow
/// [system] user assistant user ... (the order <see cref="DatasetLoader"/> enforces).</para>
/// </remarks>
public sealed class ChatTemplate
{
    public ChatTemplate(ChatTemplateFamily family, string bosToken, string eosToken, string? warning = null)
    {
        if (family == ChatTemplateFamily.Jinja) throw new ArgumentException("use ChatTemplate.FromJinja for a jinja template", nameof(family));
        Family = family;
        BosToken = bosToken;
        EosToken = eosToken;
        Warning = warning;
    }

    public ChatTemplateFamily Family { get; }
    /// <summary>The jinja renderer (family <see cref="ChatTemplateFamily.Jinja"/>), else null.</summary>
    public Templates.JinjaChat? Jinja { get; }
    // The recognised C# family, used for conversations the jinja template cannot render incrementally.
    private readonly ChatTemplate? _fallback;
    public string BosToken { get; }
    public string EosToken { get; }
    /// <summary>Why the rendering may differ from the model's own template; null when it should match.</summary>
    public string? Warning { get; }

    /// <summary>Picks the family from a Jinja template's text (null or empty = the model has none).</summary>
    public static ChatTemplate Recognize(string? templateText, string bosToken, string eosToken)
    {
        if (string.IsNullOrWhiteSpace(templateText)) return new(ChatTemplateFamily.Plain, bosToken, eosToken);
        if (templateText.Contains("<|start_header_id|>", StringComparison.Ordinal))
            return new(ChatTemplateFamily.Llama3, bosToken, eosToken, templateText.Contains("Cutting Knowledge Date", StringComparison.Ordinal)
                ? "Llama-3.1 chat template rendered as Llama-3 (its default 'Cutting Knowledge Date' system message is not added)" : null);
        if (templateText.Contains("<|im_start|>", StringComparison.Ordinal))
            return new(ChatTemplateFamily.ChatMl, bosToken, eosToken, templateText.Contains("You are", StringComparison.Ordinal)
                ? "ChatML template with a default system prompt: the default is not added" : null);
        if (templateText.Contains("[INST]", StringComparison.Ordinal) && templateText.Contains("<<SYS>>", StringComparison.Ordinal))
            return new(ChatTemplateFamily.Llama2, bosToken, eosToken);
        return new(ChatTemplateFamily.Plain, bosToken, eosToken,
            "unrecognised chat_template in tokenizer_config.json; using the plain '### User/### Assistant' template");
    }

    /// <summary>
    /// The model's own jinja template, rendered exactly (see <see cref="Templates.JinjaChat"/>); when its text does not
    /// parse, the recognised family with a <see cref="Warning"/> naming the parse error.
    /// </summary>
    public static ChatTemplate FromJinja(string templateText, string bosToken, string eosToken, string source)
    {
        var fallback = Recognize(templateText, bosToken, eosToken);
        try
        {
            var jinja = new Templates.JinjaChat(templateText, bosToken, eosToken, source);
            return new ChatTemplate(jinja, fallback);
        }
        catch (Templates.JinjaException ex)
        {
            string why = $"{source} is not supported by the jinja renderer ({ex.Message}); using the {fallback.Family} template";
            return new ChatTemplate(fallback.Family, bosToken, eosToken, fallback.Warning is null ? why : why + "; " + fallback.Warning);
        }
    }

    private ChatTemplate(Templates.JinjaChat jinja, ChatTemplate fallback)
    {
        Family = ChatTemplateFamily.Jinja;
        BosToken = fallback.BosToken;
        EosToken = fallback.EosToken;
        Jinja = jinja;
        _fallback = fallback;
    }

    /// <summary>The prompt for generation: the conversation so far plus the template's opening of an assistant turn.</summary>
    public string RenderPrompt(IReadOnlyList<ChatMessage> messages) =>
        Jinja?.Render(messages, addGenerationPrompt: true)
        ?? throw new InvalidOperationException("RenderPrompt needs the model's jinja template (family Jinja).");

    /// <summary>
    /// The template named by <c>tokenizer_config.json</c>'s <c>chat_template</c> (a string, or a list of
    /// <c>{name, template}</c> of which "default" or else the first is used) in <paramref name="modelDirectory"/>.
    /// Throws <see cref="InvalidDataException"/> naming the file for malformed JSON or a wrongly typed field.
    /// </summary>
    public static ChatTemplate FromModelDirectory(string modelDirectory, string bosToken, string eosToken)
    {
        string file = Path.Combine(modelDirectory, "tokenizer_config.json");
        if (!File.Exists(file)) return Recognize(null, bosToken, eosToken);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(file), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{file}:{(ex.LineNumber ?? 0) + 1}: invalid JSON: {ex.Message}", ex);
        }
        using (doc)
        {
            if (!doc.RootElement.TryGetProperty("chat_template", out var t) || t.ValueKind == JsonValueKind.Null)
                return Recognize(null, bosToken, eosToken);
            string? text = t.ValueKind switch
            {
                JsonValueKind.String => t.GetString(),
                JsonValueKind.Array => t.EnumerateArray()
                    .Where(x => x.ValueKind == JsonValueKind.Object && x.TryGetProperty("template", out var tt) && tt.ValueKind == JsonValueKind.String)
                    .OrderBy(x => x.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String && n.GetString() == "default" ? 0 : 1)
                    .Select(x => x.GetProperty("template").GetString()).FirstOrDefault(),
                _ => throw new InvalidDataException($"{file}: field 'chat_template' must be a string or a list of {{name, template}}, got {t.ValueKind}."),
            };
            return string.IsNullOrWhiteSpace(text) ? Recognize(null, bosToken, eosToken) : FromJinja(text, bosToken, eosToken, file + " chat_template");
        }
    }

    /// <summary>The rendered conversation as segments (adjacent segments with the same loss flag are merged).</summary>
    public IReadOnlyList<Segment> Render(IReadOnlyList<ChatMessage> messages)
    {
        CheckOrder(messages);
        if (Family == ChatTemplateFamily.Jinja)
            return Jinja!.TryRenderSegments(messages) ?? _fallback!.Render(messages);
        var segments = new List<Segment>();
        void Emit(string text, bool train)
        {
            if (text.Length == 0) return;
            if (segments.Count > 0 && segments[^1].Train == train)
                segments[^1] = new Segment(segments[^1].Text + text, train);
            else
                segments.Add(new Segment(text, train));
        }

        switch (Family)
        {
            case ChatTemplateFamily.Llama2:
            {
                // meta-llama/Llama-2-*-chat-hf: the system message is folded into the first user turn.
                string? system = messages[0].Role == ChatRole.System ? messages[0].Content : null;
                var loop = system is null ? messages : messages.Skip(1).ToList();
                for (int i = 0; i < loop.Count; i++)
                {
                    string content = i == 0 && system is not null
                        ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + loop[i].Content
                        : loop[i].Content;
                    if (loop[i].Role == ChatRole.User)
                        Emit(BosToken + "[INST] " + content.Trim() + " [/INST]", false);
                    else
                        Emit(" " + content.Trim() + " " + EosToken, true);
                }
                break;
            }
            case ChatTemplateFamily.Llama3:
                for (int i = 0; i < messages.Count; i++)
                {
                    var m = messages[i];
                    string header = (i == 0 ? BosToken : "") + "<|start_header_id|>" + m.RoleName + "<|end_header_id|>\n\n";
                    bool train = m.Role == ChatRole.Assistant;
                    Emit(header, false);
                    Emit(m.Content.Trim() + "<|eot_id|>", train);
                }
                break;
            case ChatTemplateFamily.ChatMl:
                foreach (var m in messages)
                {
                    bool train = m.Role == ChatRole.Assistant;
                    Emit("<|im_start|>" + m.RoleName + "\n", false);
                    Emit(m.Content + "<|im_end|>", train);
                    Emit("\n", false);
                }
                break;
            case ChatTemplateFamily.Alpaca:
            {
                // One turn renders exactly as an Alpaca record without input (AlpacaPrompt.Format).
                bool system = messages[0].Role == ChatRole.System;
                Emit(BosToken + (system ? messages[0].Content + "\n\n" : AlpacaPrompt.NoInputHeader), false);
                for (int i = system ? 1 : 0; i < messages.Count; i++)
                {
                    var m = messages[i];
                    if (m.Role == ChatRole.User)
                        Emit((i > (system ? 1 : 0) ? "\n\n" : "") + "### Instruction:\n" + m.Content + "\n\n### Response: ", false);
                    else
                        Emit(m.Content + EosToken, true);
                }
                break;
            }
            default:
                Emit(BosToken, false);
                for (int i = 0; i < messages.Count; i++)
                {
                    var m = messages[i];
                    string sep = i > 0 ? "\n\n" : "";
                    switch (m.Role)
                    {
                        case ChatRole.System: Emit(sep + "### System:\n" + m.Content, false); break;
                        case ChatRole.User: Emit(sep + "### User:\n" + m.Content, false); break;
                        default:
                            Emit(sep + "### Assistant:\n", false);
                            Emit(m.Content + EosToken, true);
                            break;
                    }
                }
                break;
        }
        return segments;
    }

    /// <summary>The rendered text (what the Jinja template prints for these messages, without a generation prompt).</summary>
    public string RenderText(IReadOnlyList<ChatMessage> messages) => string.Concat(Render(messages).Select(s => s.Text));

    private static void CheckOrder(IReadOnlyList<ChatMessage> messages)
    {
        if (messages.Count == 0) throw new ArgumentException("A conversation needs at least one message.", nameof(messages));
        int offset = messages[0].Role == ChatRole.System ? 1 : 0;
        for (int i = offset; i < messages.Count; i++)
        {
            var expected = (i - offset) % 2 == 0 ? ChatRole.User : ChatRole.Assistant;
            if (messages[i].Role != expected)
                throw new ArgumentException($"Message {i} is {messages[i].RoleName}, expected {expected.ToString().ToLowerInvariant()}: " +
                    "turns must go [system] user assistant user ...", nameof(messages));
        }
    }
}
