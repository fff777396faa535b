using Microsoft.ML.Tokenizers;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// The tokenizer of a HF model directory, with the BOS/EOS/PAD ids the trainer needs.
/// </summary>
/// <remarks>
/// <para>Features: loads, in this order of preference, <c>tokenizer.model</c>, <c>tokenizer.json</c> or
/// <c>original/tokenizer.model</c>. A tokenizer.model is sniffed: a SentencePiece model (Llama 1/2, through our
/// <see cref="SentencePieceProcessor"/>, identical to Google's sentencepiece; Microsoft.ML.Tokenizers 2.0.1 breaks
/// equal-score merge ties differently and refuses NFKC models) or a tiktoken ranks file (Llama 3, through
/// <see cref="TiktokenTokenizer"/> with Llama-3's regex and special tokens taken from tokenizer_config.json's
/// <c>added_tokens_decoder</c>, else Meta's default 256). A HF <c>tokenizer.json</c> with a (byte-level) BPE model
/// (GPT-2, Llama-3, Qwen HF repos) or a SentencePiece-style BPE with byte fallback (Mistral) goes through our
/// <see cref="HfJson.HfTokenizer"/>, identical to @huggingface/transformers (see <see cref="HfTokenizerJson"/> for what is
/// supported).</para>
/// <para>Why tokenizer.model first when both exist: Llama-2 repos ship both, and their tokenizer.json is a
/// SentencePiece-style BPE (Metaspace, byte fallback) converted from the SentencePiece model, which is the original and
/// encodes exactly as Google's sentencepiece (the conversion can differ from it, e.g. on unigram models). Llama-3 HF repos have only tokenizer.json at the top (the tiktoken file sits in original/),
/// so they take the tokenizer.json path.</para>
/// <para>Special ids: tokenizer_config.json token strings first, then config.json, then generation_config.json,
/// else the tokenizer's own. With no pad token anywhere, PAD falls back to an existing id (unk for
/// SentencePiece, eos for tiktoken; <see cref="PadIsFallback"/> is true). Spec 7.3: padded positions are masked
/// and labelled -100, so the choice does not change the loss; the collator masks by position, not by id.</para>
/// <para><see cref="SpecialTokens"/> maps special-token text (BOS, EOS, PAD, added tokens) to ids, for templates
/// whose text contains them.</para>
/// Throws <see cref="FileNotFoundException"/> listing the files looked for, and <see cref="InvalidDataException"/>
/// naming the file for an unreadable tokenizer or a config token missing from the vocabulary.
/// </remarks>
public sealed class ModelTokenizer
{
    /// <summary>Where <see cref="Load"/> looks, in order, relative to the model directory.</summary>
    public static readonly IReadOnlyList<string> SearchedFiles = ["tokenizer.model", "tokenizer.json", Path.Combine("original", "tokenizer.model")];

    private readonly object _inner; // SentencePieceProcessor or HfTokenizer (ours, exact) or a Microsoft.ML.Tokenizers Tokenizer
    private readonly HashSet<int> _specialIds;
    private IReadOnlyDictionary<string, int>? _hfVocabulary;              // tokenizer.json only: piece -> id

    private ModelTokenizer(object inner, string file, TokenizerFileFormat format, int vocabSize,
        int bosId, int eosId, int padId, bool padIsFallback, HashSet<int> specialIds, Dictionary<string, int> specialTokens)
    {
        SpecialTokens = specialTokens;
        BosToken = specialTokens.First(kv => kv.Value == bosId).Key;
        EosToken = specialTokens.First(kv => kv.Value == eosId).Key;
        _inner = inner;
        SourceFile = file;
        Format = format;
        VocabSize = vocabSize;
        BosId = bosId;
        EosId = eosId;
        PadId = padId;
        PadIsFallback = padIsFallback;
        _specialIds = specialIds;
    }

    public string SourceFile { get; }
    public TokenizerFileFormat Format { get; }
    /// <summary>Number of token ids (max id + 1): the embedding / LM-head row count the tokenizer needs.</summary>
    public int VocabSize { get; }
    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    /// <summary>True when no file names a pad token and <see cref="PadId"/> reuses an existing id.</summary>
    public bool PadIsFallback { get; }
    /// <summary>Special-token text to id: BOS, EOS and the tokenizer's special/added tokens (not PAD, which may be ordinary text).</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }
    /// <summary>Text of <see cref="BosId"/> (e.g. "&lt;s&gt;", "&lt;|begin_of_text|&gt;").</summary>
    public string BosToken { get; }
    /// <summary>Text of <see cref="EosId"/>.</summary>
    public string EosToken { get; }

    public static ModelTokenizer Load(string modelDirectory) => Load(modelDirectory, Caching.EncoderOptions.Default);

    /// <summary>As <see cref="Load(string)"/>, encoding as <paramref name="options"/> say (the same ids either way).</summary>
    public static ModelTokenizer Load(string modelDirectory, Caching.EncoderOptions options)
    {
        if (!Directory.Exists(modelDirectory))
            throw new DirectoryNotFoundException($"Model directory '{modelDirectory}' does not exist.");
        string? file = SearchedFiles.Select(f => Path.Combine(modelDirectory, f)).FirstOrDefault(File.Exists);
        if (file is null)
            throw new FileNotFoundException(
                $"No tokenizer in '{modelDirectory}': looked for {string.Join(", ", SearchedFiles)}.");
        var settings = HfTokenizerSettings.Read(modelDirectory);
        if (Path.GetFileName(file) == "tokenizer.json") return LoadHfJson(file, settings, options);
        var format = TokenizerFormatDetector.Detect(file);
        return format == TokenizerFileFormat.SentencePiece
            ? LoadSentencePiece(file, settings, options)
            : LoadTiktoken(file, settings);
    }

    private static ModelTokenizer LoadSentencePiece(string file, HfTokenizerSettings settings, Caching.EncoderOptions options)
    {
        var sp = SentencePieceProcessor.Load(file, options);
        // Added tokens outside the SentencePiece vocabulary (e.g. a "[PAD]" = 32000) become special tokens.
        var extra = settings.AddedTokens.Where(kv => sp.PieceToId(kv.Key) is null)
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

        int Lookup(string token, string field) =>
            sp.PieceToId(token) is int id ? id
            : extra.TryGetValue(token, out id) ? id
            : throw new InvalidDataException($"tokenizer_config.json: {field} '{token}' is not a token of {file}.");

        int bos = Resolve(settings.BosToken, "bos_token", settings.BosId, sp.Model.BosId, Lookup);
        int eos = Resolve(settings.EosToken, "eos_token", settings.EosId, sp.Model.EosId, Lookup);
        if (bos < 0) throw new InvalidDataException($"{file}: no bos token: trainer_spec.bos_id is -1 and tokenizer_config.json names none.");
        if (eos < 0) throw new InvalidDataException($"{file}: no eos token: trainer_spec.eos_id is -1 and tokenizer_config.json names none.");
        bool padFallback = settings.PadToken is null && settings.PadId is null;
        int pad = Resolve(settings.PadToken, "pad_token", settings.PadId, sp.UnknownId, Lookup);

        int vocab = Math.Max(sp.PieceCount - 1, extra.Count > 0 ? extra.Values.Max() : 0) + 1;
        // A fallback PAD is the unknown piece: real content that decodes to " ⁇ " as in sentencepiece, so not dropped.
        var special = new HashSet<int>(extra.Values) { bos, eos };
        if (!padFallback) special.Add(pad);
        var texts = new Dictionary<string, int>(extra, StringComparer.Ordinal);
        for (int id = 0; id < sp.PieceCount; id++)
            if (sp.TypeOf(id) == SentencePieceType.Control)
            {
                special.Add(id);
                texts.TryAdd(sp.IdToPiece(id), id);
            }
        var reverse = Enumerable.Range(0, sp.PieceCount).ToDictionary(id => id, sp.IdToPiece);
        AddText(texts, bos, settings.BosToken, reverse);
        AddText(texts, eos, settings.EosToken, reverse);
        return new ModelTokenizer(sp, file, TokenizerFileFormat.SentencePiece, vocab, bos, eos, pad, padFallback, special, texts);
    }

    private static ModelTokenizer LoadTiktoken(string file, HfTokenizerSettings settings)
    {
        int rankLimit = Llama3Tiktoken.RankLimit(file);
        IReadOnlyDictionary<string, int> specials = settings.AddedTokens.Count > 0
            ? settings.AddedTokens
            : Llama3Tiktoken.DefaultSpecialTokens(rankLimit);
        TiktokenTokenizer tk;
        try
        {
            tk = Llama3Tiktoken.Create(file, specials);
        }
        catch (Exception ex) when (ex is not IOException)
        {
            throw new InvalidDataException($"{file}: cannot load tiktoken ranks file: {ex.Message}", ex);
        }

        int Lookup(string token, string field) =>
            specials.TryGetValue(token, out int id) ? id
            : SingleTiktokenId(tk, token) is int single ? single
            : throw new InvalidDataException($"tokenizer_config.json: {field} '{token}' is not a token of {file}.");

        int? Named(string name) => specials.TryGetValue(name, out int id) ? id : null;
        int defaultBos = Named(Llama3Tiktoken.BeginOfText)
            ?? throw new InvalidDataException($"{file}: no bos token: tokenizer_config.json names none and '{Llama3Tiktoken.BeginOfText}' is not a special token.");
        int defaultEos = Named(Llama3Tiktoken.EndOfText)
            ?? throw new InvalidDataException($"{file}: no eos token: tokenizer_config.json names none and '{Llama3Tiktoken.EndOfText}' is not a special token.");
        int bos = Resolve(settings.BosToken, "bos_token", settings.BosId, defaultBos, Lookup);
        int eos = Resolve(settings.EosToken, "eos_token", settings.EosId, defaultEos, Lookup);
        bool padFallback = settings.PadToken is null && settings.PadId is null;
        int pad = Resolve(settings.PadToken, "pad_token", settings.PadId, eos, Lookup);

        int vocab = Math.Max(rankLimit, specials.Values.Max() + 1);
        var special = new HashSet<int>(specials.Values) { bos, eos, pad };
        var texts = new Dictionary<string, int>(specials, StringComparer.Ordinal);
        var reverse = specials.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.First().Key);
        foreach (var (id, name) in new[] { (bos, settings.BosToken), (eos, settings.EosToken) })
            AddText(texts, id, name ?? (reverse.ContainsKey(id) ? null : tk.Decode([id])), reverse);
        return new ModelTokenizer(tk, file, TokenizerFileFormat.Tiktoken, vocab, bos, eos, pad, padFallback, special, texts);
    }

    private static ModelTokenizer LoadHfJson(string file, HfTokenizerSettings settings, Caching.EncoderOptions options)
    {
        var hf = HfTokenizerJson.Load(file, options);
        int Lookup(string token, string field) =>
            hf.AddedTokens.TryGetValue(token, out int id) ? id
            : hf.Vocabulary.TryGetValue(token, out id) ? id
            : throw new InvalidDataException($"tokenizer_config.json: {field} '{token}' is not a token of {file}.");
        int? Named(params string[] names)
        {
            foreach (string n in names)
                if (hf.AddedTokens.TryGetValue(n, out int id) || hf.Vocabulary.TryGetValue(n, out id)) return id;
            return null;
        }
        // Defaults when no config names them: Llama-3's, then GPT-2's single <|endoftext|>, then <s>/</s>.
        int bos = Resolve(settings.BosToken, "bos_token", settings.BosId,
            Named(Llama3Tiktoken.BeginOfText, "<|endoftext|>", "<s>")
            ?? throw new InvalidDataException($"{file}: no bos token: tokenizer_config.json names none and the vocabulary has no <|begin_of_text|>, <|endoftext|> or <s>."), Lookup);
        int eos = Resolve(settings.EosToken, "eos_token", settings.EosId,
            Named(Llama3Tiktoken.EndOfText, "<|endoftext|>", "</s>")
            ?? throw new InvalidDataException($"{file}: no eos token: tokenizer_config.json names none and the vocabulary has no <|end_of_text|>, <|endoftext|> or </s>."), Lookup);
        bool padFallback = settings.PadToken is null && settings.PadId is null;
        int pad = Resolve(settings.PadToken, "pad_token", settings.PadId, eos, Lookup);

        int vocab = Math.Max(hf.Vocabulary.Count == 0 ? 0 : hf.Vocabulary.Values.Max(), hf.AddedTokens.Count == 0 ? 0 : hf.AddedTokens.Values.Max()) + 1;
        var special = new HashSet<int>(hf.SpecialIds) { bos, eos, pad };
        var texts = new Dictionary<string, int>(hf.AddedTokens, StringComparer.Ordinal);
        var reverse = hf.Vocabulary.Concat(hf.AddedTokens).GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.First().Key);
        AddText(texts, bos, settings.BosToken, reverse);
        AddText(texts, eos, settings.EosToken, reverse);
        return new ModelTokenizer(hf.Tokenizer, file, TokenizerFileFormat.HfTokenizerJson, vocab, bos, eos, pad, padFallback, special, texts)
        {
            _hfVocabulary = hf.Vocabulary,
        };
    }

    /// <summary>
    /// Records the text of the BOS/EOS id: the config's string, else the vocabulary's entry for the id. PAD is left
    /// out on purpose: it may be an ordinary token (e.g. "&lt;unk&gt;" or a word) that must stay text in templates.
    /// </summary>
    private static void AddText(Dictionary<string, int> texts, int id, string? name, IReadOnlyDictionary<int, string> reverse)
    {
        string? text = name ?? (reverse.TryGetValue(id, out var r) ? r : null);
        if (!string.IsNullOrEmpty(text)) texts.TryAdd(text, id);
    }

    private static int Resolve(string? token, string field, int? configId, int fallback, Func<string, string, int> lookup) =>
        token is not null ? lookup(token, field) : configId ?? fallback;

    long _encodeCalls;

    /// <summary>Calls of <see cref="Encode"/> so far (all threads): shows that a token-cache hit tokenizes nothing.</summary>
    public long EncodeCalls => Interlocked.Read(ref _encodeCalls);

    /// <summary>Token ids of <paramref name="text"/>; special-token text is NOT interpreted for SentencePiece.</summary>
    public IReadOnlyList<int> Encode(string text, bool addBos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        Interlocked.Increment(ref _encodeCalls);
        var ids = new List<int>(text.Length / 2 + 2);
        if (addBos) ids.Add(BosId);
        if (text.Length == 0) return ids;
        IReadOnlyList<int> body = _inner switch
        {
            SentencePieceProcessor sp => sp.Encode(text),
            HfJson.HfTokenizer hf => hf.Encode(text),
            _ => ((Tokenizer)_inner).EncodeToIds(text),
        };
        ids.AddRange(body);
        return ids;
    }

    /// <summary>
    /// Token ids of <paramref name="text"/> with the text of special tokens (<see cref="SpecialTokens"/>: BOS, EOS,
    /// <c>&lt;|eot_id|&gt;</c>, ...) mapped to their ids, as a rendered chat template needs; no BOS is added.
    /// At one position the longest special token wins; the text between special tokens is encoded on its own.
    /// </summary>
    public IReadOnlyList<int> EncodeWithSpecialTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var present = SpecialTokens.Where(kv => kv.Key.Length > 0 && text.Contains(kv.Key, StringComparison.Ordinal)).ToList();
        var ids = new List<int>();
        int pos = 0;
        while (pos < text.Length)
        {
            int best = -1, bestId = 0, bestLength = 0;
            foreach (var (token, id) in present)
            {
                int at = text.IndexOf(token, pos, StringComparison.Ordinal);
                if (at >= 0 && (best < 0 || at < best || at == best && token.Length > bestLength)) (best, bestId, bestLength) = (at, id, token.Length);
            }
            int end = best < 0 ? text.Length : best;
            if (end > pos) ids.AddRange(Encode(text[pos..end]));
            if (best < 0) break;
            ids.Add(bestId);
            pos = best + bestLength;
        }
        return ids;
    }

    /// <summary>
    /// (token text, id) of each token of <paramref name="text"/>: SentencePiece pieces as stored ('▁' for spaces,
    /// <c>&lt;0xXX&gt;</c> for byte fallback); for byte-level BPE/tiktoken the decoded text of each id.
    /// </summary>
    public IReadOnlyList<(string Piece, int Id)> EncodePieces(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (_inner is SentencePieceProcessor sp) return sp.EncodePieces(text);
        if (_inner is HfJson.HfTokenizer hf)
            return hf.Encode(text).Select(id => (hf.ByteLevel ? hf.Decode([id]) : hf.IdToToken(id)!, id)).ToList();
        var tk = (Tokenizer)_inner;
        return tk.EncodeToIds(text).Select(id => (tk.Decode([id]), id)).ToList();
    }

    /// <summary>Text of <paramref name="ids"/>; BOS/EOS/PAD and other special tokens are dropped unless asked for.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var kept = skipSpecialTokens ? ids.Where(id => !_specialIds.Contains(id)).ToList() : ids.ToList();
        if (_inner is HfJson.HfTokenizer hf) return hf.Decode(kept);
        if (_inner is not SentencePieceProcessor sp) return ((Tokenizer)_inner).Decode(kept);
        // Added tokens past the SentencePiece pieces are rendered from their text, between decoded runs.
        var text = new System.Text.StringBuilder();
        int start = 0;
        for (int i = 0; i <= kept.Count; i++)
        {
            if (i < kept.Count && kept[i] < sp.PieceCount) continue;
            if (i > start) text.Append(sp.Decode(kept.GetRange(start, i - start), renderControl: !skipSpecialTokens));
            if (i < kept.Count)
                text.Append(SpecialTokens.FirstOrDefault(kv => kv.Value == kept[i]).Key
                    ?? throw new ArgumentOutOfRangeException(nameof(ids), kept[i], $"token id outside the vocabulary of {SourceFile}"));
            start = i + 1;
        }
        return text.ToString();
    }

    /// <summary>Id of a single token string (a special token or one whole piece), or null when there is none.</summary>
    public int? TokenToId(string token)
    {
        switch (_inner)
        {
            case SentencePieceProcessor sp:
                return sp.PieceToId(token) ?? (SpecialTokens.TryGetValue(token, out int sid) ? sid : null);
            case TiktokenTokenizer tk:
                return SingleTiktokenId(tk, token);
            case HfJson.HfTokenizer:
                if (SpecialTokens.TryGetValue(token, out int id)) return id;
                return _hfVocabulary!.TryGetValue(token, out id) ? id : null;
            default:
                return null;
        }
    }

    // The ranks table is keyed by bytes; a token string is one entry exactly when it encodes to one id.
    private static int? SingleTiktokenId(TiktokenTokenizer tk, string token)
    {
        if (tk.SpecialTokens is { } s && s.TryGetValue(token, out int id)) return id;
        var ids = tk.EncodeToIds(token);
        return ids.Count == 1 ? ids[0] : null;
    }
}
