using System.Buffers.Binary;
using System.Text;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// A minimal protobuf (proto2 wire format) encoder: varints, 32-bit floats and
/// length-delimited fields. Just enough to write a SentencePiece <c>ModelProto</c>
/// without a protobuf dependency.
/// </summary>
/// <remarks>
/// Wire types used: 0 = varint, 2 = length-delimited, 5 = fixed 32-bit.
/// Negative <c>int32</c> values are sign-extended to 64 bits, so they take 10 bytes (protobuf rule for int32).
/// </remarks>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _buffer = new();

    public byte[] ToArray() => _buffer.ToArray();

    public void WriteVarint(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        _buffer.WriteByte((byte)value);
    }

    private void WriteTag(int field, int wireType) => WriteVarint((ulong)((field << 3) | wireType));

    /// <summary>int32 / enum field: sign-extended to 64 bits as protobuf requires.</summary>
    public void WriteInt32(int field, int value)
    {
        WriteTag(field, 0);
        WriteVarint((ulong)(long)value);
    }

    public void WriteBool(int field, bool value)
    {
        WriteTag(field, 0);
        WriteVarint(value ? 1UL : 0UL);
    }

    public void WriteFloat(int field, float value)
    {
        WriteTag(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        _buffer.Write(bytes);
    }

    public void WriteBytes(int field, ReadOnlySpan<byte> value)
    {
        WriteTag(field, 2);
        WriteVarint((ulong)value.Length);
        _buffer.Write(value);
    }

    public void WriteString(int field, string value) => WriteBytes(field, Encoding.UTF8.GetBytes(value));

    /// <summary>An embedded message is a length-delimited field holding the message's bytes.</summary>
    public void WriteMessage(int field, ProtoWriter message) => WriteBytes(field, message.ToArray());
}
