using QstOrleans.Data.Tokenization;

namespace QstOrleans.Tests.Data;

public sealed class ProtoWriterTests
{
    [Theory]
    [InlineData(0UL, new byte[] { 0x00 })]
    [InlineData(1UL, new byte[] { 0x01 })]
    [InlineData(127UL, new byte[] { 0x7F })]
    [InlineData(128UL, new byte[] { 0x80, 0x01 })]
    [InlineData(300UL, new byte[] { 0xAC, 0x02 })] // the protobuf docs' example
    public void VarintMatchesHandEncoding(ulong value, byte[] expected)
    {
        var w = new ProtoWriter();
        w.WriteVarint(value);
        Assert.Equal(expected, w.ToArray());
    }

    [Fact]
    public void NegativeInt32IsTenByteSignExtendedVarint()
    {
        var w = new ProtoWriter();
        w.WriteInt32(43, -1);
        // tag = 43 << 3 | 0 = 344 = 0b1_0101_1000 -> 0xD8 0x02; -1 as uint64 = nine 0xFF then 0x01.
        Assert.Equal(new byte[] { 0xD8, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, w.ToArray());
    }

    [Fact]
    public void OnePieceMessageMatchesHandEncoding()
    {
        byte[] bytes = SentencePieceModelWriter.Piece("a", -1.5f, SentencePieceModelWriter.PieceType.Normal).ToArray();
        byte[] expected =
        [
            0x0A, 0x01, 0x61,             // piece = 1, length-delimited, "a"
            0x15, 0x00, 0x00, 0xC0, 0xBF, // score = 2, fixed32, -1.5f = 0xBFC00000 little-endian
            0x18, 0x01,                   // type = 3, varint, NORMAL = 1
        ];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void WholeModelHeadAndTailMatchHandEncoding()
    {
        byte[] model = SentencePieceModelWriter.SerializeBpe(["ab", "b"]);

        // First entry: ModelProto.pieces (field 1) holding <unk> with score 0 and type UNKNOWN = 2.
        byte[] unk = [0x0A, 0x0E, 0x0A, 0x05, (byte)'<', (byte)'u', (byte)'n', (byte)'k', (byte)'>', 0x15, 0, 0, 0, 0, 0x18, 0x02];
        Assert.Equal(unk, model[..unk.Length]);

        // Tail: last piece "b" (score -1 = 0xBF800000), trainer_spec (field 2), normalizer_spec (field 3).
        byte[] tail =
        [
            0x0A, 0x0A, 0x0A, 0x01, (byte)'b', 0x15, 0x00, 0x00, 0x80, 0xBF, 0x18, 0x01,
            0x12, 0x1D,                   // trainer_spec, 29 bytes
            0x18, 0x02,                   // model_type = BPE
            0x20, 0x85, 0x02,             // vocab_size = 261 = 3 + 256 + 2
            0x98, 0x02, 0x01,             // byte_fallback (35) = true
            0xC0, 0x02, 0x00,             // unk_id (40) = 0
            0xC8, 0x02, 0x01,             // bos_id (41) = 1
            0xD0, 0x02, 0x02,             // eos_id (42) = 2
            0xD8, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, // pad_id (43) = -1
            0x1A, 0x10,                   // normalizer_spec, 16 bytes
            0x0A, 0x08, (byte)'i', (byte)'d', (byte)'e', (byte)'n', (byte)'t', (byte)'i', (byte)'t', (byte)'y',
            0x18, 0x01,                   // add_dummy_prefix = true
            0x20, 0x00,                   // remove_extra_whitespaces = false
            0x28, 0x01,                   // escape_whitespaces = true
        ];
        Assert.Equal(tail, model[^tail.Length..]);

        // 3 specials + 256 bytes + 2 normal pieces, each a field-1 entry.
        int pieces = 0, pos = 0;
        while (model[pos] == 0x0A) { pieces++; pos += 2 + model[pos + 1]; }
        Assert.Equal(261, pieces);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("<s>")]
    [InlineData("<0x41>")]
    public void RejectsBadPieces(string piece)
    {
        var ex = Assert.Throws<ArgumentException>(() => SentencePieceModelWriter.SerializeBpe(["x", piece]));
        Assert.Contains("#1", ex.Message);
    }
}
