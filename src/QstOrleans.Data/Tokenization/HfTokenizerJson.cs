using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using QstOrleans.Data.Tokenization.HfJson;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// Reads a HF fast-tokenizer <c>tokenizer.json</c> with a BPE model into our <see cref="HfTokenizer"/>: byte-level BPE
/// (GPT-2, Llama-3, Qwen-2) and SentencePiece-style BPE with byte fallback (Mistral, Llama-2 HF files).
/// </summary>
/// <remarks>
/// <para>Read: <c>model.vocab</c>; <c>model.merges</c> as "a b" strings or [a, b] pairs (rank = position);
/// <c>unk_token</c>, <c>byte_fallback</c>, <c>ignore_merges</c>; <c>added_tokens</c> (<c>special</c>,
/// <c>normalized</c>, <c>lstrip</c>, <c>rstrip</c>); <c>normalizer</c>: NFC, NFD, Prepend, Replace,
/// Lowercase, Strip or a Sequence of these; <c>pre_tokenizer</c>: null, <c>ByteLevel</c> (<c>use_regex</c>: GPT-2's
/// split), <c>Split</c> (Regex or String pattern, behavior Isolated), <c>Metaspace</c> (split false) or a Sequence;
/// <c>decoder</c>: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace or a Sequence. Tokens come out exactly as
/// <c>@huggingface/transformers</c> makes them (golden files over the shared corpus in the tests).</para>
/// <para>Refused (<see cref="InvalidDataException"/> naming the file and field): other model types (WordPiece, Unigram),
/// other normalizers (NFKC/NFKD: no compatibility tables without ICU), pre-tokenizers and decoders, Split behaviors other than Isolated, <c>invert</c>, Metaspace
/// <c>split: true</c>, ByteLevel <c>add_prefix_space</c>, <c>continuing_subword_prefix</c> / <c>end_of_word_suffix</c>.
/// Ignored: <c>dropout</c>, <c>fuse_unk</c> (as transformers.js), post-processors (BOS is added by
/// <see cref="ModelTokenizer.Encode"/>).</para>
/// </remarks>
internal static class HfTokenizerJson
{
    /// <summary>GPT-2's pre-tokenizer pattern (HF ByteLevel with use_regex = true).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    internal sealed record Result(HfTokenizer Tokenizer, IReadOnlyDictionary<string, int> Vocabulary,
        IReadOnlyDictionary<string, int> AddedTokens, IReadOnlySet<int> SpecialIds);

    public static Result Load(string path, Caching.EncoderOptions? options = null)
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
        using (doc) return Read(doc.RootElement, path, options);
    }

    private static Result Read(JsonElement root, string path, Caching.EncoderOptions? options)
    {
        InvalidDataException Bad(string problem) => new($"{path}: {problem}");
        if (root.ValueKind != JsonValueKind.Object) throw Bad("the file is not a JSON object.");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw Bad("field 'model' is missing.");
        string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "BPE";
        if (type != "BPE") throw Bad($"model.type '{type}' is not supported (only BPE).");
        foreach (string field in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (OptionalString(model, field) is { } value) throw Bad($"model.{field} '{value}' is not supported.");

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
        var merges = new List<(string, string)>();
        if (model.TryGetProperty("merges", out var mergesElement) && mergesElement.ValueKind == JsonValueKind.Array)
        {
            int rank = 0;
            foreach (var m in mergesElement.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.String && m.GetString()!.Split(' ') is [var a, var b])
                    merges.Add((a, b));
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
                    merges.Add((m[0].GetString()!, m[1].GetString()!));
                else
                    throw Bad($"model.merges[{rank}] must be \"a b\" or [\"a\", \"b\"].");
                rank++;
            }
        }

        // Added tokens: matched whole in the input, before normalization unless 'normalized'.
        var added = new List<HfAddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedElement) && addedElement.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var a in addedElement.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Object
                    || !a.TryGetProperty("id", out var idEl) || !idEl.TryGetInt32(out int id) || id < 0
                    || !a.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String || c.GetString()!.Length == 0)
                    throw Bad($"added_tokens[{i}] needs an integer 'id' and a non-empty string 'content'.");
                bool special = Flag(a, "special", false);
                added.Add(new HfAddedToken(c.GetString()!, id, special, Flag(a, "normalized", !special), Flag(a, "lstrip", false), Flag(a, "rstrip", false)));
                i++;
            }
        }

        var normalizers = new List<HfNormalizer>();
        if (root.TryGetProperty("normalizer", out var norm)) Normalizers(norm, "normalizer", normalizers, path);
        var preTokenizers = new List<HfPreTokenizer>();
        if (root.TryGetProperty("pre_tokenizer", out var pre)) PreTokenizers(pre, "pre_tokenizer", preTokenizers, path);
        var decoders = new List<HfDecoder>();
        if (root.TryGetProperty("decoder", out var dec)) Decoders(dec, "decoder", decoders, path);
        bool byteLevel = preTokenizers.Any(p => p is HfPreTokenizer.ByteLevel) || decoders.Any(d => d is HfDecoder.ByteLevel);

        var bpe = new HfBpeModel(vocab, merges, Flag(model, "byte_fallback", false), Flag(model, "ignore_merges", false), OptionalString(model, "unk_token"), options);
        var tokenizer = new HfTokenizer(bpe, vocab, added, normalizers, preTokenizers, decoders, byteLevel);
        var addedIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var a in added) addedIds[a.Content] = a.Id;
        return new Result(tokenizer, vocab, addedIds, added.Where(a => a.Special).Select(a => a.Id).ToHashSet());
    }

    private static bool Flag(JsonElement e, string field, bool otherwise) =>
        e.TryGetProperty(field, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : otherwise;

    private static string? OptionalString(JsonElement e, string field) =>
        e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0 ? v.GetString() : null;

    private static string TypeOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : e.ValueKind.ToString();

    private static Regex Compile(string pattern, string where, string path)
    {
        try
        {
            return new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{path}: {where}: regex '{pattern}' is not a valid .NET regex: {ex.Message}", ex);
        }
    }

    /// <summary>A Split/Replace <c>pattern</c>: {"Regex": ...} or {"String": ...} (matched literally).</summary>
    private static Regex Pattern(JsonElement e, string where, string path)
    {
        if (!e.TryGetProperty("pattern", out var pat) || pat.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: {where}.pattern is missing.");
        if (pat.TryGetProperty("Regex", out var rx) && rx.ValueKind == JsonValueKind.String) return Compile(rx.GetString()!, where, path);
        if (pat.TryGetProperty("String", out var str) && str.ValueKind == JsonValueKind.String) return Compile(Regex.Escape(str.GetString()!), where, path);
        throw new InvalidDataException($"{path}: {where}.pattern needs a 'Regex' or 'String'.");
    }

    private static IEnumerable<(JsonElement Item, string Where)> Items(JsonElement e, string field, string where, string path)
    {
        if (!e.TryGetProperty(field, out var list) || list.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path}: {where}.{field} is missing.");
        return list.EnumerateArray().Select((item, i) => (item, $"{where}.{field}[{i}]"));
    }

    private static void Normalizers(JsonElement n, string where, List<HfNormalizer> into, string path)
    {
        switch (TypeOf(n))
        {
            case "Null": return;
            case "Sequence":
                foreach (var (item, at) in Items(n, "normalizers", where, path)) Normalizers(item, at, into, path);
                return;
            case "NFC": into.Add(new HfNormalizer.Unicode(NormalizationForm.FormC)); return;
            case "NFD": into.Add(new HfNormalizer.Unicode(NormalizationForm.FormD)); return;
            case "Lowercase": into.Add(new HfNormalizer.Lowercase()); return;
            case "Strip": into.Add(new HfNormalizer.Strip(Flag(n, "strip_left", false), Flag(n, "strip_right", false))); return;
            case "Prepend":
                into.Add(new HfNormalizer.Prepend(OptionalString(n, "prepend") ?? throw new InvalidDataException($"{path}: {where}.prepend is missing.")));
                return;
            case "Replace":
                into.Add(new HfNormalizer.Replace(Pattern(n, where, path), n.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : ""));
                return;
            default:
                throw new InvalidDataException($"{path}: {where}: normalizer '{TypeOf(n)}' is not supported (NFC, NFD, Prepend, Replace, Lowercase, Strip, Sequence).");
        }
    }

    private static void PreTokenizers(JsonElement p, string where, List<HfPreTokenizer> into, string path)
    {
        switch (TypeOf(p))
        {
            case "Null": return;
            case "Sequence":
                foreach (var (item, at) in Items(p, "pretokenizers", where, path)) PreTokenizers(item, at, into, path);
                return;
            case "ByteLevel":
                if (Flag(p, "add_prefix_space", false))
                    throw new InvalidDataException($"{path}: {where}: ByteLevel add_prefix_space is not supported.");
                into.Add(new HfPreTokenizer.ByteLevel(Flag(p, "use_regex", true) ? Compile(Gpt2Pattern, where, path) : null));
                return;
            case "Split":
                string behavior = p.TryGetProperty("behavior", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : "";
                if (behavior != "Isolated" || Flag(p, "invert", false))
                    throw new InvalidDataException($"{path}: {where}: Split behavior '{behavior}'{(behavior == "Isolated" ? " with invert" : "")} is not supported (only Isolated).");
                into.Add(new HfPreTokenizer.Isolated(Pattern(p, where, path)));
                return;
            case "Metaspace":
                if (Flag(p, "split", true) && p.TryGetProperty("split", out _))
                    throw new InvalidDataException($"{path}: {where}: Metaspace split: true is not supported (only split: false, as Llama-2/Mistral files have).");
                into.Add(new HfPreTokenizer.Metaspace(Replacement(p), PrependScheme(p, where, path)));
                return;
            default:
                throw new InvalidDataException($"{path}: {where}: pre-tokenizer '{TypeOf(p)}' is not supported (only ByteLevel, Split, Metaspace, Sequence).");
        }
    }

    private static string Replacement(JsonElement p) => OptionalString(p, "replacement") ?? "\u2581";

    /// <summary>Metaspace's <c>prepend_scheme</c>; older files say <c>add_prefix_space</c> (true = always).</summary>
    private static string PrependScheme(JsonElement p, string where, string path)
    {
        string scheme = OptionalString(p, "prepend_scheme") ?? (Flag(p, "add_prefix_space", true) ? "always" : "never");
        return scheme is "always" or "first" or "never" ? scheme
            : throw new InvalidDataException($"{path}: {where}.prepend_scheme '{scheme}' is not one of always, first, never.");
    }

    private static void Decoders(JsonElement d, string where, List<HfDecoder> into, string path)
    {
        switch (TypeOf(d))
        {
            case "Null": return;
            case "Sequence":
                foreach (var (item, at) in Items(d, "decoders", where, path)) Decoders(item, at, into, path);
                return;
            case "ByteLevel": into.Add(new HfDecoder.ByteLevel()); return;
            case "ByteFallback": into.Add(new HfDecoder.ByteFallback()); return;
            case "Fuse": into.Add(new HfDecoder.Fuse()); return;
            case "Replace":
                if (!d.TryGetProperty("pattern", out var pat) || !pat.TryGetProperty("String", out var s) || s.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}: {where}.pattern needs a 'String' (Replace decoders with a Regex are not supported).");
                into.Add(new HfDecoder.Replace(s.GetString()!, OptionalString(d, "content") ?? ""));
                return;
            case "Strip":
                string content = d.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : " ";
                if (content.Length != 1) throw new InvalidDataException($"{path}: {where}.content must be one character.");
                into.Add(new HfDecoder.Strip(content[0], d.TryGetProperty("start", out var st) && st.TryGetInt32(out int start) ? start : 0,
                    d.TryGetProperty("stop", out var sp) && sp.TryGetInt32(out int stop) ? stop : 0));
                return;
            case "Metaspace":
                into.Add(new HfDecoder.Metaspace(Replacement(d), PrependScheme(d, where, path) != "never"));
                return;
            default:
                throw new InvalidDataException($"{path}: {where}: decoder '{TypeOf(d)}' is not supported (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence).");
        }
    }
}
