namespace QstOrleans.Data.Datasets;

/// <summary>
/// The template of each dataset format: turns a parsed <see cref="DatasetRecord"/> into text segments with loss flags.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Alpaca: <c>[bos + AlpacaPrompt.Format(instruction, input)]</c> (no loss), <c>[output + eos]</c> (loss) -
/// the same ids as <see cref="InstructionCollator"/> before truncation.</item>
/// <item>Chat: <see cref="ChatTemplate.Render"/> (loss on assistant turns).</item>
/// <item>Text: <c>[bos]</c> (no loss: nothing precedes it to predict it from), <c>[text + eos]</c> (loss).</item>
/// </list>
/// Throws <see cref="ArgumentException"/> for a <see cref="TokenRecord"/> (already tokens, nothing to render).
/// </remarks>
public static class PromptRenderer
{
    public static ConversationExample Render(DatasetRecord record, ChatTemplate template) => record switch
    {
        InstructionRecord a => new([
            new Segment(template.BosToken + AlpacaPrompt.Format(a.Alpaca.Instruction, a.Alpaca.Input), false),
            new Segment(a.Alpaca.Output + template.EosToken, true)], a.File, a.Line),
        ChatRecord c => new(template.Render(c.Messages), c.File, c.Line),
        TextRecord t => new([new Segment(template.BosToken, false), new Segment(t.Text + template.EosToken, true)], t.File, t.Line),
        _ => throw new ArgumentException($"{record.File}:{record.Line}: a {record.GetType().Name} has no text to render.", nameof(record)),
    };
}
