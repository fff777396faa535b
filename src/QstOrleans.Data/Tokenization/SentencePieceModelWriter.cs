using System.Text;
using System.Text.Json;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// Writes a SentencePiece BPE <c>tokenizer.model</c> (a serialized <c>sentencepiece.ModelProto</c>)
/// laid out like Llama-2's, so that a tiny test model can ship its own tokenizer.
/// </summary>
/// <remarks>
/// <para>Layout: id 0 <c>&lt;unk&gt;</c> (UNKNOWN), 1 <c>&lt;s&gt;</c> and 2 <c>&lt;/s&gt;</c> (CONTROL),
/// 3..258 the byte pieces <c>&lt;0x00&gt;</c>..<c>&lt;0xFF&gt;</c> (BYTE, so byte id = 3 + byte value),
/// then the caller's normal pieces with scores 0, -1, -2, ... (SentencePiece BPE merges the adjacent pair
/// whose concatenation has the highest score, so earlier pieces merge first).</para>
/// <para>Trainer spec: BPE, byte_fallback on, unk/bos/eos/pad ids 0/1/2/-1. Normalizer: "identity",
/// add_dummy_prefix on, remove_extra_whitespaces off, escape_whitespaces on (Llama-2's settings).</para>
/// <para>Field numbers were checked against sentencepiece_model.proto (pieces=1, trainer_spec=2,
/// normalizer_spec=3; piece/score/type=1/2/3; model_type=3, vocab_size=4, byte_fallback=35,
/// unk/bos/eos/pad_id=40..43; name=1, add_dummy_prefix=3, remove_extra_whitespaces=4, escape_whitespaces=5).</para>
/// Throws <see cref="ArgumentException"/> for an empty, duplicate or reserved piece.
/// </remarks>
public static class SentencePieceModelWriter
{
    public const int UnkId = 0;
    public const int BosId = 1;
    public const int EosId = 2;
    /// <summary>Id of byte piece <c>&lt;0x00&gt;</c>; byte b has id <c>FirstByteId + b</c>.</summary>
    public const int FirstByteId = 3;
    /// <summary>Id of the first normal piece.</summary>
    public const int FirstNormalId = FirstByteId + 256;

    public const string UnkPiece = "<unk>";
    public const string BosPiece = "<s>";
    public const string EosPiece = "</s>";

    internal enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Byte = 6 }

    private const int ModelTypeBpe = 2;

    /// <summary>Writes the model file. <paramref name="pieces"/> are the normal pieces (spaces as '▁'), best first.</summary>
    public static void WriteBpe(string path, IReadOnlyList<string> pieces)
    {
        File.WriteAllBytes(path, SerializeBpe(pieces));
    }

    /// <summary>
    /// Writes <c>tokenizer.model</c>, <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c> into
    /// <paramref name="directory"/> so it looks like a HF Llama model directory. Returns the total vocab size.
    /// </summary>
    public static int WriteHfTokenizerFiles(string directory, IReadOnlyList<string> pieces)
    {
        Directory.CreateDirectory(directory);
        WriteBpe(Path.Combine(directory, "tokenizer.model"), pieces);
        var options = new JsonSerializerOptions { WriteIndented = true };
        var config = new Dictionary<string, object?>
        {
            ["tokenizer_class"] = "LlamaTokenizer",
            ["bos_token"] = BosPiece,
            ["eos_token"] = EosPiece,
            ["unk_token"] = UnkPiece,
            ["pad_token"] = null, // Llama-2 has none; see spec 7.3
            ["add_bos_token"] = true,
            ["add_eos_token"] = false,
            ["model_max_length"] = 2048,
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), JsonSerializer.Serialize(config, options));
        var map = new Dictionary<string, string> { ["bos_token"] = BosPiece, ["eos_token"] = EosPiece, ["unk_token"] = UnkPiece };
        File.WriteAllText(Path.Combine(directory, "special_tokens_map.json"), JsonSerializer.Serialize(map, options));
        return FirstNormalId + pieces.Count;
    }

    /// <summary>The serialized ModelProto bytes.</summary>
    internal static byte[] SerializeBpe(IReadOnlyList<string> pieces)
    {
        ValidatePieces(pieces);
        var model = new ProtoWriter();
        model.WriteMessage(1, Piece(UnkPiece, 0f, PieceType.Unknown));
        model.WriteMessage(1, Piece(BosPiece, 0f, PieceType.Control));
        model.WriteMessage(1, Piece(EosPiece, 0f, PieceType.Control));
        for (int b = 0; b < 256; b++)
            model.WriteMessage(1, Piece(ByteName(b), 0f, PieceType.Byte));
        for (int i = 0; i < pieces.Count; i++)
            model.WriteMessage(1, Piece(pieces[i], -i, PieceType.Normal));

        var trainer = new ProtoWriter();
        trainer.WriteInt32(3, ModelTypeBpe);
        trainer.WriteInt32(4, FirstNormalId + pieces.Count);
        trainer.WriteBool(35, true);
        trainer.WriteInt32(40, UnkId);
        trainer.WriteInt32(41, BosId);
        trainer.WriteInt32(42, EosId);
        trainer.WriteInt32(43, -1);
        model.WriteMessage(2, trainer);

        var normalizer = new ProtoWriter();
        normalizer.WriteString(1, "identity");
        normalizer.WriteBool(3, true);
        normalizer.WriteBool(4, false);
        normalizer.WriteBool(5, true);
        model.WriteMessage(3, normalizer);
        return model.ToArray();
    }

    /// <summary>One <c>ModelProto.SentencePiece</c> message: piece = 1, score = 2, type = 3.</summary>
    internal static ProtoWriter Piece(string piece, float score, PieceType type)
    {
        var w = new ProtoWriter();
        w.WriteString(1, piece);
        w.WriteFloat(2, score);
        w.WriteInt32(3, (int)type);
        return w;
    }

    internal static string ByteName(int b) => $"<0x{b:X2}>";

    private static bool IsValidUtf16(string s)
    {
        try { _ = StrictUtf8.GetByteCount(s); return true; }
        catch (EncoderFallbackException) { return false; }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static void ValidatePieces(IReadOnlyList<string> pieces)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { UnkPiece, BosPiece, EosPiece };
        for (int b = 0; b < 256; b++) seen.Add(ByteName(b));
        for (int i = 0; i < pieces.Count; i++)
        {
            string p = pieces[i];
            if (string.IsNullOrEmpty(p))
                throw new ArgumentException($"SentencePiece piece #{i} is empty.", nameof(pieces));
            if (p.Contains(' '))
                throw new ArgumentException($"SentencePiece piece #{i} '{p}' contains a space; use '▁' (U+2581).", nameof(pieces));
            if (!seen.Add(p))
                throw new ArgumentException($"SentencePiece piece #{i} '{p}' is a duplicate or a reserved piece.", nameof(pieces));
            if (!IsValidUtf16(p))
                throw new ArgumentException($"SentencePiece piece #{i} contains a lone surrogate.", nameof(pieces));
        }
    }
}
