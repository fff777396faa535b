using System.Buffers.Binary;
using System.Text;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// A minimal protobuf (proto2 wire format) reader, the counterpart of <see cref="ProtoWriter"/>: enough to read a
/// SentencePiece <c>ModelProto</c> without a protobuf dependency.
/// </summary>
/// <remarks>
/// Wire types: 0 = varint, 1 = fixed 64-bit, 2 = length-delimited, 5 = fixed 32-bit; fields the caller does not
/// ask for are skipped with <see cref="Skip"/>. Truncated or malformed input throws <see cref="InvalidDataException"/>.
/// </remarks>
internal ref struct ProtoReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    public ProtoReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _pos = 0;
    }

    public readonly bool End => _pos >= _data.Length;

    /// <summary>Reads the next field's key: (field number, wire type).</summary>
    public (int Field, int WireType) ReadKey()
    {
        ulong key = ReadVarint();
        return ((int)(key >> 3), (int)(key & 7));
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_pos >= _data.Length) throw new InvalidDataException("truncated protobuf varint");
            byte b = _data[_pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new InvalidDataException("protobuf varint longer than 10 bytes");
    }

    /// <summary>An int32 field (negative values are sign-extended varints).</summary>
    public int ReadInt32() => (int)(long)ReadVarint();

    public bool ReadBool() => ReadVarint() != 0;

    public float ReadFloat() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

    public ReadOnlySpan<byte> ReadBytes()
    {
        ulong length = ReadVarint();
        if (length > (ulong)(_data.Length - _pos)) throw new InvalidDataException("truncated protobuf length-delimited field");
        return Take((int)length);
    }

    public string ReadString() => Encoding.UTF8.GetString(ReadBytes());

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case 0: ReadVarint(); break;
            case 1: Take(8); break;
            case 2: ReadBytes(); break;
            case 5: Take(4); break;
            default: throw new InvalidDataException($"unsupported protobuf wire type {wireType}");
        }
    }

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n > _data.Length - _pos) throw new InvalidDataException("truncated protobuf field");
        var span = _data.Slice(_pos, n);
        _pos += n;
        return span;
    }
}
