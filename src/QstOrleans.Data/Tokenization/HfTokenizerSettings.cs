using System.Text.Json;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// The special-token settings a HF model directory states in <c>tokenizer_config.json</c>,
/// <c>config.json</c> and <c>generation_config.json</c> (each optional).
/// </summary>
/// <remarks>
/// Token strings (<c>bos_token</c> may be a string or an object with <c>content</c>) come from
/// tokenizer_config.json; ids (<c>bos_token_id</c>, <c>eos_token_id</c> as an int or an array, whose first
/// entry is taken, <c>pad_token_id</c>) from config.json, then generation_config.json.
/// Throws <see cref="InvalidDataException"/> naming the file for malformed JSON or a wrongly typed field.
/// </remarks>
internal sealed record HfTokenizerSettings(
    string? BosToken, string? EosToken, string? PadToken,
    int? BosId, int? EosId, int? PadId,
    IReadOnlyDictionary<string, int> AddedTokens)
{
    public static HfTokenizerSettings Read(string directory)
    {
        string? bos = null, eos = null, pad = null;
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        string tokConfig = Path.Combine(directory, "tokenizer_config.json");
        if (File.Exists(tokConfig))
        {
            using var doc = Parse(tokConfig);
            var root = doc.RootElement;
            bos = TokenString(root, "bos_token", tokConfig);
            eos = TokenString(root, "eos_token", tokConfig);
            pad = TokenString(root, "pad_token", tokConfig);
            if (root.TryGetProperty("added_tokens_decoder", out var dec) && dec.ValueKind == JsonValueKind.Object)
            {
                foreach (var prop in dec.EnumerateObject())
                {
                    if (!int.TryParse(prop.Name, out int id) || id < 0)
                        throw new InvalidDataException($"{tokConfig}: added_tokens_decoder key '{prop.Name}' is not a token id.");
                    string? content = prop.Value.ValueKind == JsonValueKind.Object && prop.Value.TryGetProperty("content", out var c)
                        && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                    if (string.IsNullOrEmpty(content))
                        throw new InvalidDataException($"{tokConfig}: added_tokens_decoder['{prop.Name}'] has no string 'content'.");
                    added[content] = id;
                }
            }
        }

        int? bosId = null, eosId = null, padId = null;
        foreach (string name in new[] { "config.json", "generation_config.json" })
        {
            string file = Path.Combine(directory, name);
            if (!File.Exists(file)) continue;
            using var doc = Parse(file);
            bosId ??= TokenId(doc.RootElement, "bos_token_id", file);
            eosId ??= TokenId(doc.RootElement, "eos_token_id", file);
            padId ??= TokenId(doc.RootElement, "pad_token_id", file);
        }
        return new HfTokenizerSettings(bos, eos, pad, bosId, eosId, padId, added);
    }

    private static JsonDocument Parse(string file)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(file), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{file}:{(ex.LineNumber ?? 0) + 1}: invalid JSON: {ex.Message}", ex);
        }
    }

    private static string? TokenString(JsonElement root, string field, string file)
    {
        if (!root.TryGetProperty(field, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new InvalidDataException($"{file}: field '{field}' must be a string or an object with 'content', got {v.ValueKind}."),
        };
    }

    private static int? TokenId(JsonElement root, string field, string file)
    {
        if (!root.TryGetProperty(field, out var v)) return null;
        switch (v.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.Number when v.TryGetInt32(out int id):
                return id;
            case JsonValueKind.Array when v.GetArrayLength() > 0 && v[0].TryGetInt32(out int first):
                return first; // Llama-3.1 lists several eos ids; the first is <|end_of_text|>
            case JsonValueKind.Array when v.GetArrayLength() == 0:
                return null;
            default:
                throw new InvalidDataException($"{file}: field '{field}' must be an integer or an array of integers, got {v.ValueKind}.");
        }
    }
}
