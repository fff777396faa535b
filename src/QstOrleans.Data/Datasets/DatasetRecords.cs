namespace QstOrleans.Data.Datasets;

/// <summary>A piece of rendered example text; <see cref="Train"/> says whether its tokens carry loss.</summary>
/// <remarks>The text may contain special-token strings (e.g. "&lt;s&gt;", "&lt;|eot_id|&gt;"); the
/// <see cref="SegmentCollator"/> maps those to their ids instead of tokenizing them as text.</remarks>
public sealed record Segment(string Text, bool Train);

/// <summary>A rendered example: text segments with per-segment loss flags, and where it came from (1-based line).</summary>
public sealed record ConversationExample(IReadOnlyList<Segment> Segments, string File, int Line)
{
    /// <summary>All segment texts joined (what the chat template would print).</summary>
    public string Text => string.Concat(Segments.Select(s => s.Text));
}

/// <summary>Speaker of a chat turn.</summary>
public enum ChatRole { System, User, Assistant }

/// <summary>One chat turn.</summary>
public sealed record ChatMessage(ChatRole Role, string Content)
{
    /// <summary>The role as chat templates spell it ("system", "user", "assistant").</summary>
    public string RoleName => Role switch { ChatRole.System => "system", ChatRole.User => "user", _ => "assistant" };
}

/// <summary>A parsed dataset record, before any template is applied; <see cref="Line"/> is 1-based.</summary>
public abstract record DatasetRecord(string File, int Line);

/// <summary>An Alpaca record (rendered with <see cref="AlpacaPrompt"/>).</summary>
public sealed record InstructionRecord(AlpacaRecord Alpaca, string File, int Line) : DatasetRecord(File, Line);

/// <summary>A conversation (ShareGPT or OpenAI messages); rendered with a <see cref="ChatTemplate"/>.</summary>
public sealed record ChatRecord(IReadOnlyList<ChatMessage> Messages, string File, int Line) : DatasetRecord(File, Line);

/// <summary>Plain completion text; every token carries loss.</summary>
public sealed record TextRecord(string Text, string File, int Line) : DatasetRecord(File, Line);

/// <summary>Pre-tokenized ids and labels (-100 = no loss), used as they are.</summary>
public sealed record TokenRecord(int[] InputIds, int[] Labels, string File, int Line) : DatasetRecord(File, Line);
