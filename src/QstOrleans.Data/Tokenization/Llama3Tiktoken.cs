using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace QstOrleans.Data.Tokenization;

/// <summary>Llama-3's tiktoken setup: pre-tokenizer regex and default special tokens.</summary>
internal static class Llama3Tiktoken
{
    /// <summary>Llama-3's pre-tokenizer pattern (Meta's tokenizer.py <c>pat_str</c>).</summary>
    public const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const string BeginOfText = "<|begin_of_text|>";
    public const string EndOfText = "<|end_of_text|>";
    public const int ReservedSpecialCount = 256;

    /// <summary>
    /// Meta's default special tokens, numbered from <paramref name="baseCount"/> (the number of ranks):
    /// begin_of_text, end_of_text, reserved 0-3, start_header_id, end_header_id, reserved 4, eot_id, reserved 5...
    /// Used only when tokenizer_config.json has no added_tokens_decoder.
    /// </summary>
    public static Dictionary<string, int> DefaultSpecialTokens(int baseCount)
    {
        var names = new List<string>
        {
            BeginOfText, EndOfText,
            "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
            "<|start_header_id|>", "<|end_header_id|>",
            "<|reserved_special_token_4|>", "<|eot_id|>",
        };
        for (int i = 5; names.Count < ReservedSpecialCount; i++) names.Add($"<|reserved_special_token_{i}|>");
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < names.Count; i++) map[names[i]] = baseCount + i;
        return map;
    }

    /// <summary>
    /// One past the largest rank, so default special ids follow the ranks (Meta numbers them from the rank count).
    /// Throws <see cref="InvalidDataException"/> naming the file and line for a malformed rank line.
    /// </summary>
    public static int RankLimit(string path)
    {
        int max = -1, lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            if (line.Length == 0) continue;
            int space = line.LastIndexOf(' ');
            if (space <= 0 || !int.TryParse(line.AsSpan(space + 1), out int rank) || rank < 0)
                throw new InvalidDataException($"{path}:{lineNo}: expected 'base64token rank'.");
            max = Math.Max(max, rank);
        }
        return max + 1;
    }

    public static TiktokenTokenizer Create(string path, IReadOnlyDictionary<string, int> specialTokens)
    {
        var pre = new RegexPreTokenizer(new Regex(Pattern, RegexOptions.Compiled), specialTokens);
        using var stream = File.OpenRead(path);
        return TiktokenTokenizer.Create(stream, pre, normalizer: null, specialTokens);
    }
}
