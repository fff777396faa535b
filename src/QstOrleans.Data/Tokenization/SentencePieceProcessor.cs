using System.Text;
using QstOrleans.Data.Tokenization.Caching;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// Encodes and decodes text with a SentencePiece <c>tokenizer.model</c> exactly as Google's sentencepiece does
/// (checked line by line against its own output, see tests/QstOrleans.Tests/Tokenization/golden).
/// </summary>
/// <remarks>
/// <para>Features: BPE and unigram models; the normalizer spec as stored (precompiled NFKC-style charsmaps or
/// identity, add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces, treat_whitespace_as_suffix);
/// user-defined symbols; a run of unknown characters is one unknown token; byte fallback (an unknown token becomes
/// its UTF-8 bytes <c>&lt;0xXX&gt;</c>); UNUSED pieces resegmented (BPE). No BOS/EOS is added here, and control-token text in the input is ordinary text.</para>
/// <para>Decoding follows SentencePieceProcessor::Decode: control pieces vanish (unless
/// <c>renderControl</c>), the unknown piece becomes the model's unk_surface (" ⁇ "), consecutive byte pieces are
/// decoded as UTF-8 (an invalid byte becomes U+FFFD), '▁' becomes ' ', and the first text piece loses one leading '▁'
/// when the normalizer adds a dummy prefix or removes extra whitespace.</para>
/// Throws <see cref="InvalidDataException"/> (from <see cref="SentencePieceModel"/>) for a bad model file and
/// <see cref="ArgumentOutOfRangeException"/> for an id outside the model.
/// </remarks>
public sealed class SentencePieceProcessor
{
    private const char SpaceSymbol = '\u2581';
    private readonly SentencePieceModel _model;
    private readonly SentencePieceVocabulary _vocab;
    private readonly SentencePieceNormalizer _normalizer;
    private readonly SentencePieceBpe? _bpe;
    private readonly SentencePieceUnigram? _unigram;
    private readonly int[] _byteIds = new int[256];

    /// <param name="options">Null = <see cref="EncoderOptions.Default"/> (word cache on where it is exact).</param>
    public SentencePieceProcessor(SentencePieceModel model, EncoderOptions? options = null)
    {
        _model = model;
        _vocab = new SentencePieceVocabulary(model);
        _normalizer = new SentencePieceNormalizer(model);
        if (model.Algorithm == SentencePieceAlgorithm.Bpe) _bpe = new SentencePieceBpe(_vocab, model.TreatWhitespaceAsSuffix, options ?? EncoderOptions.Default);
        else _unigram = new SentencePieceUnigram(_vocab);
        for (int b = 0; b < 256; b++)
            _byteIds[b] = _vocab.Find(SentencePieceModelWriter.ByteName(b)) is int id && model.Pieces[id].Type == SentencePieceType.Byte ? id : -1;
        if (model.ByteFallback && _byteIds.Contains(-1))
            throw new InvalidDataException($"{model.File}: byte_fallback is on but not all 256 byte pieces <0x00>..<0xFF> exist.");
    }

    public static SentencePieceProcessor Load(string file, EncoderOptions? options = null) => new(SentencePieceModel.Load(file), options);

    /// <summary>True when the BPE segmentation caches words (<see cref="EncoderOptions.WordCache"/> and a model whose pieces never join words).</summary>
    public bool CachesWords => _bpe?.CachesWords ?? false;

    public SentencePieceModel Model => _model;
    public int PieceCount => _model.Pieces.Count;
    public int UnknownId => _model.UnknownId;

    /// <summary>The text after normalization, as the segmenter sees it ('▁' for spaces).</summary>
    public string Normalize(string text) => _normalizer.Normalize(text);

    /// <summary>Token ids of <paramref name="text"/> (no BOS/EOS).</summary>
    public List<int> Encode(string text) => EncodePieces(text).ConvertAll(p => p.Id);

    /// <summary>(piece, id) of each token of <paramref name="text"/>, byte fallback applied.</summary>
    public List<(string Piece, int Id)> EncodePieces(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string normalized = _normalizer.Normalize(text);
        var segments = new List<(string Piece, int Id)>();
        if (_bpe is not null) _bpe.Encode(normalized, segments);
        else _unigram!.Encode(normalized, segments);

        var result = new List<(string Piece, int Id)>(segments.Count);
        for (int i = 0; i < segments.Count; i++)
        {
            var (piece, id) = segments[i];
            if (id != _model.UnknownId)
            {
                result.Add((piece, id));
                continue;
            }
            // A run of unknown pieces is one unknown token (sentencepiece merges them).
            var run = new StringBuilder(piece);
            while (i + 1 < segments.Count && segments[i + 1].Id == _model.UnknownId) run.Append(segments[++i].Piece);
            if (!_model.ByteFallback)
            {
                result.Add((run.ToString(), id));
                continue;
            }
            foreach (byte b in Encoding.UTF8.GetBytes(run.ToString()))
                result.Add((SentencePieceModelWriter.ByteName(b), _byteIds[b]));
        }
        return result;
    }

    /// <summary>Id of exactly <paramref name="piece"/>, or null.</summary>
    public int? PieceToId(string piece) => _vocab.Find(piece);

    public string IdToPiece(int id) =>
        (uint)id < (uint)_model.Pieces.Count ? _model.Pieces[id].Piece : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the model's {_model.Pieces.Count} pieces");

    public SentencePieceType TypeOf(int id) =>
        (uint)id < (uint)_model.Pieces.Count ? _model.Pieces[id].Type : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the model's {_model.Pieces.Count} pieces");

    /// <summary>Text of <paramref name="ids"/>; control pieces (BOS/EOS) are dropped unless <paramref name="renderControl"/>.</summary>
    public string Decode(IEnumerable<int> ids, bool renderControl = false)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        bool stripLeadingSpace = _model.AddDummyPrefix || _model.RemoveExtraWhitespaces;
        bool atStart = true; // no text piece yet: control pieces do not count
        foreach (int id in ids)
        {
            var type = TypeOf(id);
            if (type == SentencePieceType.Byte)
            {
                bytes.Add(PieceToByte(_model.Pieces[id].Piece));
                atStart = false;
                continue;
            }
            FlushBytes(bytes, text);
            string piece = _model.Pieces[id].Piece;
            if (type == SentencePieceType.Control)
            {
                if (renderControl) text.Append(piece);
                continue;
            }
            bool first = atStart;
            atStart = false;
            if (type == SentencePieceType.Unknown)
            {
                text.Append(_model.UnknownSurface);
                continue;
            }
            if (first && stripLeadingSpace && piece[0] == SpaceSymbol) piece = piece[1..];
            text.Append(piece.Replace(SpaceSymbol, ' '));
        }
        FlushBytes(bytes, text);
        return text.ToString();
    }

    // Whole UTF-8 characters decode to themselves; every byte of an invalid sequence becomes U+FFFD.
    private static void FlushBytes(List<byte> bytes, StringBuilder text)
    {
        if (bytes.Count == 0) return;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
        while (!span.IsEmpty)
        {
            var status = System.Text.Rune.DecodeFromUtf8(span, out var rune, out int consumed);
            if (status == System.Buffers.OperationStatus.Done) text.Append(rune.ToString());
            else
            {
                text.Append('\uFFFD');
                consumed = 1;
            }
            span = span[consumed..];
        }
        bytes.Clear();
    }

    private static byte PieceToByte(string piece) => Convert.ToByte(piece[3..5], 16); // "<0xAB>"
}
