using QstOrleans.Data.Datasets;

namespace QstOrleans.Data.Templates;

/// <summary>
/// A model's own <c>chat_template</c> (jinja), rendered for training data (segments, loss on assistant turns) and
/// for generation prompts (<c>add_generation_prompt</c>).
/// </summary>
/// <remarks>
/// <para>Which text is trained, found by rendering prefixes of the conversation (the template itself decides the
/// layout): for assistant message i, P = render(messages[..i], add_generation_prompt: true) and
/// F = render(messages[..(i+1)]); the text F[P.Length..] (the reply and the template's end of turn, e.g.
/// <c>"Hi&lt;|eot_id|&gt;"</c>, <c>" Hi &lt;/s&gt;"</c>, <c>"Hi&lt;|im_end|&gt;\n"</c>) is trained, the rest is not.</para>
/// <para>Templates whose prefix renderings are not prefixes of the whole (e.g. Mistral v0.3 moves the system
/// message into the last user turn) give null from <see cref="TryRenderSegments"/>; the caller falls back.</para>
/// A template's <c>raise_exception</c> and render errors become <see cref="ArgumentException"/> naming
/// <see cref="Source"/>.
/// </remarks>
public sealed class JinjaChat
{
    private readonly JinjaTemplate _template;
    private readonly string _bos, _eos;

    public JinjaChat(string templateText, string bosToken, string eosToken, string source)
    {
        _template = JinjaTemplate.Parse(templateText);
        Text = templateText;
        _bos = bosToken;
        _eos = eosToken;
        Source = source;
    }

    /// <summary>The template's jinja source (part of the token cache's key).</summary>
    public string Text { get; }

    /// <summary>Where the template came from, for error messages (e.g. "model/tokenizer_config.json chat_template").</summary>
    public string Source { get; }

    /// <summary>The template's text for <paramref name="messages"/>.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var list = messages.Select(m => (object?)new Dictionary<string, object?> { ["role"] = m.RoleName, ["content"] = m.Content }).ToList();
        try
        {
            return _template.Render(new Dictionary<string, object?>
            {
                ["messages"] = list,
                ["add_generation_prompt"] = addGenerationPrompt,
                ["bos_token"] = _bos,
                ["eos_token"] = _eos,
            });
        }
        catch (JinjaException ex)
        {
            throw new ArgumentException($"{Source}: {(ex.RaisedByTemplate ? "the template refuses this conversation" : "render error")}: {ex.Message}", ex);
        }
    }

    /// <summary>The rendered conversation as segments with assistant turns trained, or null when the template does
    /// not render conversations incrementally (see remarks).</summary>
    public IReadOnlyList<Segment>? TryRenderSegments(IReadOnlyList<ChatMessage> messages)
    {
        string whole = Render(messages, addGenerationPrompt: false);
        var segments = new List<Segment>();
        int cursor = 0;
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role != ChatRole.Assistant) continue;
            var before = messages.Take(i).ToList();
            string prompt = Render(before, addGenerationPrompt: true);
            string through = Render(messages.Take(i + 1).ToList(), addGenerationPrompt: false);
            if (prompt.Length < cursor || !through.StartsWith(prompt, StringComparison.Ordinal) || !whole.StartsWith(through, StringComparison.Ordinal))
                return null;
            if (prompt.Length > cursor) segments.Add(new Segment(whole[cursor..prompt.Length], false));
            if (through.Length > prompt.Length) segments.Add(new Segment(whole[prompt.Length..through.Length], true));
            cursor = through.Length;
        }
        if (whole.Length > cursor) segments.Add(new Segment(whole[cursor..], false));
        return segments;
    }
}
