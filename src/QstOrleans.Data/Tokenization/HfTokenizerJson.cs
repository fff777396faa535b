using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// Reads a HF fast-tokenizer <c>tokenizer.json</c> with a BPE model (GPT-2 / Llama-3 style byte-level BPE) into a
/// Microsoft.ML.Tokenizers <see cref="BpeTokenizer"/>.
/// </summary>
/// <remarks>
/// <para>Read: <c>model.vocab</c>; <c>model.merges</c> as "a b" strings or [a, b] pairs (rank = position);
/// <c>model.unk_token</c>, <c>continuing_subword_prefix</c>, <c>end_of_word_suffix</c>, <c>fuse_unk</c>;
/// <c>added_tokens</c> (all are matched whole in text; those with <c>special: true</c> are reported as special);
/// <c>pre_tokenizer</c>: null, <c>ByteLevel</c> (with <c>use_regex</c>, the default, GPT-2's split pattern), <c>Split</c>
/// with a <c>Regex</c> or <c>String</c> pattern and behavior Isolated, or a <c>Sequence</c> of these. Byte-level
/// mode is on when the pre-tokenizer or the decoder is ByteLevel.</para>
/// <para>Not supported (throws <see cref="InvalidDataException"/> naming the file and field): other model types
/// (WordPiece, Unigram), a normalizer, <c>byte_fallback</c>, ByteLevel <c>add_prefix_space</c>, other
/// pre-tokenizers (Metaspace: Llama-2's tokenizer.json - load its tokenizer.model instead), Split behaviors other
/// than Isolated or <c>invert</c>, a [a, b] merge whose parts contain a space. Ignored: <c>ignore_merges</c>
/// (Llama-3; whole-word vocabulary hits then come from merges, which give the same ids for a consistent
/// vocabulary), <c>dropout</c>, post-processors (BOS is added by <see cref="ModelTokenizer.Encode"/>).</para>
/// </remarks>
internal static class HfTokenizerJson
{
    /// <summary>GPT-2's pre-tokenizer pattern (HF ByteLevel with use_regex = true).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    internal sealed record Result(BpeTokenizer Tokenizer, IReadOnlyDictionary<string, int> Vocabulary,
        IReadOnlyDictionary<string, int> AddedTokens, IReadOnlySet<int> SpecialIds);

    public static Result Load(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}:{(ex.LineNumber ?? 0) + 1}: invalid JSON: {ex.Message}", ex);
        }
        using (doc) return Read(doc.RootElement, path);
    }

    private static Result Read(JsonElement root, string path)
    {
        InvalidDataException Bad(string problem) => new($"{path}: {problem}");
        if (root.ValueKind != JsonValueKind.Object) throw Bad("the file is not a JSON object.");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw Bad("field 'model' is missing.");
        string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "BPE";
        if (type != "BPE") throw Bad($"model.type '{type}' is not supported (only BPE).");
        if (model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True)
            throw Bad("model.byte_fallback is not supported (SentencePiece-style BPE: load tokenizer.model instead).");
        if (root.TryGetProperty("normalizer", out var norm) && norm.ValueKind != JsonValueKind.Null)
            throw Bad($"normalizer '{TypeOf(norm)}' is not supported.");

        // Vocabulary: token -> id.
        if (!model.TryGetProperty("vocab", out var vocabElement) || vocabElement.ValueKind != JsonValueKind.Object)
            throw Bad("field 'model.vocab' is missing or not an object.");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocabElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw Bad($"model.vocab['{p.Name}'] is not a non-negative integer id.");
            vocab[p.Name] = id;
        }

        // Merges: "a b" strings (tokenizers < 0.20) or [a, b] pairs (newer files).
        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var mergesElement) && mergesElement.ValueKind == JsonValueKind.Array)
        {
            int rank = 0;
            foreach (var m in mergesElement.EnumerateArray())
            {
                string merge = m.ValueKind switch
                {
                    JsonValueKind.String when m.GetString()!.Split(' ').Length == 2 => m.GetString()!,
                    JsonValueKind.Array when m.GetArrayLength() == 2 && m.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String)
                        => Pair(m[0].GetString()!, m[1].GetString()!, rank, Bad),
                    _ => throw Bad($"model.merges[{rank}] must be \"a b\" or [\"a\", \"b\"]."),
                };
                merges.Add(merge);
                rank++;
            }
        }

        // Added tokens: matched whole in the input, before pre-tokenization.
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var specialIds = new HashSet<int>();
        if (root.TryGetProperty("added_tokens", out var addedElement) && addedElement.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var a in addedElement.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Object
                    || !a.TryGetProperty("id", out var idEl) || !idEl.TryGetInt32(out int id) || id < 0
                    || !a.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String || c.GetString()!.Length == 0)
                    throw Bad($"added_tokens[{i}] needs an integer 'id' and a non-empty string 'content'.");
                added[c.GetString()!] = id;
                if (a.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True) specialIds.Add(id);
                i++;
            }
        }

        var (byteLevel, patterns) = PreTokenizerSettings(root, path);
        var specials = added.Count > 0 ? added : null;
        PreTokenizer pre = patterns.Count switch
        {
            // No split pattern: the text between added tokens is one word.
            0 => new RegexPreTokenizer(new Regex(@"[\s\S]+", RegexOptions.Compiled), specials),
            1 => new RegexPreTokenizer(new Regex(patterns[0], RegexOptions.Compiled), specials),
            _ => new CompositePreTokenizer(patterns.Select(p => (PreTokenizer)new RegexPreTokenizer(new Regex(p, RegexOptions.Compiled), specials)).ToList(), specials),
        };

        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            SpecialTokens = specials,
            PreTokenizer = pre,
            ByteLevel = byteLevel,
            UnknownToken = OptionalString(model, "unk_token"),
            ContinuingSubwordPrefix = OptionalString(model, "continuing_subword_prefix"),
            EndOfWordSuffix = OptionalString(model, "end_of_word_suffix"),
            FuseUnknownTokens = model.TryGetProperty("fuse_unk", out var fu) && fu.ValueKind == JsonValueKind.True,
        };
        BpeTokenizer tokenizer;
        try
        {
            tokenizer = BpeTokenizer.Create(options);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: cannot build the BPE tokenizer: {ex.Message}", ex);
        }
        return new Result(tokenizer, vocab, added, specialIds);
    }

    private static string Pair(string a, string b, int rank, Func<string, InvalidDataException> bad) =>
        a.Contains(' ') || b.Contains(' ') || a.Length == 0 || b.Length == 0
            ? throw bad($"model.merges[{rank}] [\"{a}\", \"{b}\"]: merge parts with spaces cannot be represented.")
            : a + " " + b;

    private static string? OptionalString(JsonElement e, string field) =>
        e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0 ? v.GetString() : null;

    private static string TypeOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : e.ValueKind.ToString();

    /// <summary>Byte-level mode and the split regexes, in order.</summary>
    private static (bool ByteLevel, List<string> Patterns) PreTokenizerSettings(JsonElement root, string path)
    {
        bool byteLevel = root.TryGetProperty("decoder", out var dec) && TypeOf(dec) == "ByteLevel";
        var patterns = new List<string>();
        void Visit(JsonElement p, string where)
        {
            switch (TypeOf(p))
            {
                case "Null":
                    return;
                case "Sequence":
                    if (!p.TryGetProperty("pretokenizers", out var list) || list.ValueKind != JsonValueKind.Array)
                        throw new InvalidDataException($"{path}: {where}.pretokenizers is missing.");
                    int i = 0;
                    foreach (var item in list.EnumerateArray()) Visit(item, $"{where}.pretokenizers[{i++}]");
                    return;
                case "ByteLevel":
                    byteLevel = true;
                    if (p.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True)
                        throw new InvalidDataException($"{path}: {where}: ByteLevel add_prefix_space is not supported.");
                    if (!(p.TryGetProperty("use_regex", out var ur) && ur.ValueKind == JsonValueKind.False))
                        patterns.Add(Gpt2Pattern);
                    return;
                case "Split":
                    string behavior = p.TryGetProperty("behavior", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : "";
                    if (behavior != "Isolated" || (p.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True))
                        throw new InvalidDataException($"{path}: {where}: Split behavior '{behavior}'{(behavior == "Isolated" ? " with invert" : "")} is not supported (only Isolated).");
                    if (!p.TryGetProperty("pattern", out var pat) || pat.ValueKind != JsonValueKind.Object)
                        throw new InvalidDataException($"{path}: {where}.pattern is missing.");
                    if (pat.TryGetProperty("Regex", out var rx) && rx.ValueKind == JsonValueKind.String)
                        patterns.Add(rx.GetString()!);
                    else if (pat.TryGetProperty("String", out var str) && str.ValueKind == JsonValueKind.String)
                        patterns.Add(Regex.Escape(str.GetString()!) + "|(?:(?!" + Regex.Escape(str.GetString()!) + @")[\s\S])+");
                    else
                        throw new InvalidDataException($"{path}: {where}.pattern needs a 'Regex' or 'String'.");
                    return;
                default:
                    throw new InvalidDataException($"{path}: {where}: pre-tokenizer '{TypeOf(p)}' is not supported (only ByteLevel, Split, Sequence).");
            }
        }
        if (root.TryGetProperty("pre_tokenizer", out var pre)) Visit(pre, "pre_tokenizer");
        foreach (string p in patterns)
        {
            try { _ = new Regex(p); }
            catch (ArgumentException ex) { throw new InvalidDataException($"{path}: pre_tokenizer regex '{p}' is not a valid .NET regex: {ex.Message}", ex); }
        }
        return (byteLevel, patterns);
    }
}
