using System.Text.Json;

namespace QstOrleans.Data.Datasets;

/// <summary>
/// Validates one JSON record of each dataset format; every problem is a <see cref="DataFormatException"/>
/// naming the file, line and field (and the message number for conversations).
/// </summary>
internal static class RecordParsers
{
    public static InstructionRecord Alpaca(JsonElement e, string file, int line) =>
        new(AlpacaDataset.ParseRecord(e, file, line), file, line);

    /// <summary>
    /// ShareGPT (<c>conversations</c> of <c>{from, value}</c>) or OpenAI (<c>messages</c> of <c>{role, content}</c>).
    /// Rules: roles system (first message only), human/user, gpt/assistant; after the optional system message
    /// the turns alternate user, assistant, user, ...; at least one assistant turn; no empty turn.
    /// </summary>
    public static ChatRecord Chat(JsonElement e, string file, int line)
    {
        JsonRecordReader.RequireObject(e, file, line);
        bool shareGpt = e.TryGetProperty("conversations", out var list);
        if (!shareGpt && !e.TryGetProperty("messages", out list))
            throw new DataFormatException(file, line, "field 'conversations' (or 'messages') is missing");
        string listField = shareGpt ? "conversations" : "messages";
        if (list.ValueKind != JsonValueKind.Array)
            throw new DataFormatException(file, line, $"field '{listField}' must be an array, got {list.ValueKind}");
        if (list.GetArrayLength() == 0)
            throw new DataFormatException(file, line, $"field '{listField}' is empty");

        // Each element may use either spelling; ShareGPT files in the wild mix them rarely, but it costs nothing.
        var messages = new List<ChatMessage>();
        int n = 0;
        foreach (var m in list.EnumerateArray())
        {
            n++;
            string at = $"{listField}[{n - 1}]: ";
            JsonRecordReader.RequireObject(m, file, line, $"{listField}[{n - 1}]");
            string roleField = m.TryGetProperty("from", out _) ? "from" : "role";
            string contentField = m.TryGetProperty("value", out _) ? "value" : "content";
            string roleText = JsonRecordReader.RequiredString(m, roleField, file, line, prefix: at);
            ChatRole role = roleText.ToLowerInvariant() switch
            {
                "system" => ChatRole.System,
                "human" or "user" => ChatRole.User,
                "gpt" or "assistant" => ChatRole.Assistant,
                _ => throw new DataFormatException(file, line,
                    $"{at}wrong role '{roleText}' (expected system, human/user or gpt/assistant)"),
            };
            string content = JsonRecordReader.RequiredString(m, contentField, file, line, allowEmpty: true, prefix: at);
            if (string.IsNullOrWhiteSpace(content))
                throw new DataFormatException(file, line, role == ChatRole.Assistant ? $"{at}empty response" : $"{at}empty {roleText} message");

            int turn = messages.Count - (messages.Count > 0 && messages[0].Role == ChatRole.System ? 1 : 0);
            ChatRole expected = turn % 2 == 0 ? ChatRole.User : ChatRole.Assistant;
            if (role == ChatRole.System ? messages.Count > 0 : role != expected)
                throw new DataFormatException(file, line, role == ChatRole.System
                    ? $"{at}wrong role 'system': only the first message may be a system message"
                    : $"{at}wrong role '{roleText}': turns must alternate user/assistant after an optional system message, expected {expected.ToString().ToLowerInvariant()}");
            messages.Add(new ChatMessage(role, content));
        }
        if (!messages.Any(m => m.Role == ChatRole.Assistant))
            throw new DataFormatException(file, line, "conversation has no assistant turn (nothing to train on)");
        return new ChatRecord(messages, file, line);
    }

    /// <summary><c>{"text": "..."}</c>; blank text is an error.</summary>
    public static TextRecord Text(JsonElement e, string file, int line)
    {
        JsonRecordReader.RequireObject(e, file, line);
        return new TextRecord(JsonRecordReader.RequiredString(e, "text", file, line), file, line);
    }

    /// <summary>
    /// <c>{"input_ids": [...], "labels": [...]}</c>: ids non-negative integers, labels (optional, default = the ids)
    /// of the same length, each a non-negative id or -100.
    /// </summary>
    public static TokenRecord Tokens(JsonElement e, string file, int line)
    {
        JsonRecordReader.RequireObject(e, file, line);
        int[] ids = IntArray(e, "input_ids", file, line) ?? throw new DataFormatException(file, line, "field 'input_ids' is missing");
        if (ids.Length == 0) throw new DataFormatException(file, line, "field 'input_ids' is empty");
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] < 0) throw new DataFormatException(file, line, $"field 'input_ids'[{i}] is negative ({ids[i]})");
        int[] labels = IntArray(e, "labels", file, line) ?? (int[])ids.Clone();
        if (labels.Length != ids.Length)
            throw new DataFormatException(file, line, $"field 'labels' has {labels.Length} entries but 'input_ids' has {ids.Length}");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] < 0 && labels[i] != InstructionCollator.IgnoreIndex)
                throw new DataFormatException(file, line, $"field 'labels'[{i}] is {labels[i]} (expected a token id or -100)");
        return new TokenRecord(ids, labels, file, line);
    }

    private static int[]? IntArray(JsonElement e, string field, string file, int line)
    {
        if (!e.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Array)
            throw new DataFormatException(file, line, $"field '{field}' must be an array of integers, got {v.ValueKind}");
        var result = new int[v.GetArrayLength()];
        int i = 0;
        foreach (var x in v.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out result[i]))
                throw new DataFormatException(file, line, $"field '{field}'[{i}] is not a 32-bit integer");
            i++;
        }
        return result;
    }
}
