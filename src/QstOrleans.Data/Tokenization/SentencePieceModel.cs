namespace QstOrleans.Data.Tokenization;

/// <summary>SentencePiece piece types (<c>ModelProto.SentencePiece.Type</c>).</summary>
public enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>SentencePiece model algorithms (<c>TrainerSpec.ModelType</c>).</summary>
public enum SentencePieceAlgorithm
{
    Unigram = 1,
    Bpe = 2,
    Word = 3,
    Char = 4,
}

/// <summary>One vocabulary entry of a SentencePiece model.</summary>
public readonly record struct SentencePieceEntry(string Piece, float Score, SentencePieceType Type);

/// <summary>
/// The parts of a serialized SentencePiece <c>ModelProto</c> (a <c>tokenizer.model</c>) that encoding and decoding use:
/// the pieces, the trainer spec's algorithm and special ids, and the normalizer spec.
/// </summary>
/// <remarks>
/// Field numbers from sentencepiece_model.proto: ModelProto pieces = 1, trainer_spec = 2, normalizer_spec = 3;
/// SentencePiece piece/score/type = 1/2/3 (type defaults to NORMAL); TrainerSpec model_type = 3 (default UNIGRAM),
/// treat_whitespace_as_suffix = 24, byte_fallback = 35, bos_id = 41, eos_id = 42, unk_surface = 44; NormalizerSpec name = 1,
/// precompiled_charsmap = 2, add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape_whitespaces = 5 (all three
/// default true). Throws <see cref="InvalidDataException"/> naming the file for a malformed proto, a duplicate piece,
/// a missing unknown piece or byte pieces without byte_fallback (the checks sentencepiece makes when it loads).
/// </remarks>
public sealed class SentencePieceModel
{
    private SentencePieceModel(string file) => File = file;

    public string File { get; }
    public IReadOnlyList<SentencePieceEntry> Pieces { get; private set; } = [];
    public SentencePieceAlgorithm Algorithm { get; private set; } = SentencePieceAlgorithm.Unigram;
    public bool ByteFallback { get; private set; }
    public bool TreatWhitespaceAsSuffix { get; private set; }
    /// <summary>What an unknown piece decodes to (default " ⁇ ").</summary>
    public string UnknownSurface { get; private set; } = " \u2047 ";
    public string NormalizerName { get; private set; } = "";
    /// <summary>The normalizer's compiled rules (empty for "identity").</summary>
    public byte[] PrecompiledCharsMap { get; private set; } = [];
    public bool AddDummyPrefix { get; private set; } = true;
    public bool RemoveExtraWhitespaces { get; private set; } = true;
    public bool EscapeWhitespaces { get; private set; } = true;
    /// <summary>trainer_spec.bos_id (default 1; -1 = none).</summary>
    public int BosId { get; private set; } = 1;
    /// <summary>trainer_spec.eos_id (default 2; -1 = none).</summary>
    public int EosId { get; private set; } = 2;
    /// <summary>Id of the UNKNOWN piece.</summary>
    public int UnknownId { get; private set; } = -1;

    public static SentencePieceModel Load(string file) => Parse(System.IO.File.ReadAllBytes(file), file);

    public static SentencePieceModel Parse(ReadOnlySpan<byte> bytes, string file)
    {
        var model = new SentencePieceModel(file);
        var pieces = new List<SentencePieceEntry>();
        try
        {
            var reader = new ProtoReader(bytes);
            while (!reader.End)
            {
                var (field, wire) = reader.ReadKey();
                if (field == 1 && wire == 2) pieces.Add(ReadPiece(reader.ReadBytes()));
                else if (field == 2 && wire == 2) model.ReadTrainerSpec(reader.ReadBytes());
                else if (field == 3 && wire == 2) model.ReadNormalizerSpec(reader.ReadBytes());
                else reader.Skip(wire);
            }
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{file}: not a SentencePiece model: {ex.Message}", ex);
        }
        model.Pieces = pieces;
        model.Validate();
        return model;
    }

    private static SentencePieceEntry ReadPiece(ReadOnlySpan<byte> bytes)
    {
        var reader = new ProtoReader(bytes);
        string piece = "";
        float score = 0f;
        var type = SentencePieceType.Normal;
        while (!reader.End)
        {
            var (field, wire) = reader.ReadKey();
            if (field == 1 && wire == 2) piece = reader.ReadString();
            else if (field == 2 && wire == 5) score = reader.ReadFloat();
            else if (field == 3 && wire == 0) type = (SentencePieceType)reader.ReadInt32();
            else reader.Skip(wire);
        }
        return new SentencePieceEntry(piece, score, type);
    }

    private void ReadTrainerSpec(ReadOnlySpan<byte> bytes)
    {
        var reader = new ProtoReader(bytes);
        while (!reader.End)
        {
            var (field, wire) = reader.ReadKey();
            if (field == 3 && wire == 0) Algorithm = (SentencePieceAlgorithm)reader.ReadInt32();
            else if (field == 24 && wire == 0) TreatWhitespaceAsSuffix = reader.ReadBool();
            else if (field == 35 && wire == 0) ByteFallback = reader.ReadBool();
            else if (field == 41 && wire == 0) BosId = reader.ReadInt32();
            else if (field == 42 && wire == 0) EosId = reader.ReadInt32();
            else if (field == 44 && wire == 2) UnknownSurface = reader.ReadString();
            else reader.Skip(wire);
        }
    }

    private void ReadNormalizerSpec(ReadOnlySpan<byte> bytes)
    {
        var reader = new ProtoReader(bytes);
        while (!reader.End)
        {
            var (field, wire) = reader.ReadKey();
            if (field == 1 && wire == 2) NormalizerName = reader.ReadString();
            else if (field == 2 && wire == 2) PrecompiledCharsMap = reader.ReadBytes().ToArray();
            else if (field == 3 && wire == 0) AddDummyPrefix = reader.ReadBool();
            else if (field == 4 && wire == 0) RemoveExtraWhitespaces = reader.ReadBool();
            else if (field == 5 && wire == 0) EscapeWhitespaces = reader.ReadBool();
            else reader.Skip(wire);
        }
    }

    private void Validate()
    {
        if (Pieces.Count == 0) throw new InvalidDataException($"{File}: SentencePiece model has no pieces.");
        if (Algorithm is not (SentencePieceAlgorithm.Bpe or SentencePieceAlgorithm.Unigram))
            throw new InvalidDataException($"{File}: SentencePiece model_type {Algorithm} is not supported (BPE and UNIGRAM are).");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Pieces.Count; i++)
        {
            var p = Pieces[i];
            if (!Enum.IsDefined(p.Type)) throw new InvalidDataException($"{File}: piece #{i} '{p.Piece}' has unknown type {(int)p.Type}.");
            if (string.IsNullOrEmpty(p.Piece)) throw new InvalidDataException($"{File}: piece #{i} is empty.");
            if (!seen.Add(p.Piece)) throw new InvalidDataException($"{File}: piece #{i} '{p.Piece}' is a duplicate.");
            if (p.Type == SentencePieceType.Unknown)
            {
                if (UnknownId >= 0) throw new InvalidDataException($"{File}: more than one unknown piece (#{UnknownId} and #{i}).");
                UnknownId = i;
            }
            if (p.Type == SentencePieceType.Byte && !ByteFallback)
                throw new InvalidDataException($"{File}: byte piece #{i} '{p.Piece}' but trainer_spec.byte_fallback is false.");
        }
        if (UnknownId < 0) throw new InvalidDataException($"{File}: SentencePiece model has no unknown (<unk>) piece.");
    }
}
