using System.Buffers.Binary;

namespace QstOrleans.Grains.Persistence;

/// <summary>
/// The bytes of one grain-state blob: <c>"QSTGS1\n"</c>, a 16-byte write id, a 4-byte little-endian payload length,
/// then the payload (what the configured <c>IGrainStorageSerializer</c> produced).
/// </summary>
/// <remarks>
/// Why a write id: the local blob store's ETag is the SHA-256 of the content, so writing the same state twice would
/// give the same ETag, and a writer holding the ETag of an older, equal version could overwrite a newer one (the
/// ABA problem). A fresh random id per write makes every version's content, and so its ETag, unique on every store.
/// The length field detects a truncated blob, which is reported instead of handed to the deserializer.
/// </remarks>
internal static class GrainStateEnvelope
{
    static ReadOnlySpan<byte> Magic => "QSTGS1\n"u8;
    const int IdLength = 16;
    static int HeaderLength => Magic.Length + IdLength + sizeof(int);

    public static byte[] Wrap(ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[HeaderLength + payload.Length];
        Magic.CopyTo(bytes);
        Guid.NewGuid().TryWriteBytes(bytes.AsSpan(Magic.Length, IdLength));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(Magic.Length + IdLength), payload.Length);
        payload.CopyTo(bytes.AsSpan(HeaderLength));
        return bytes;
    }

    /// <summary>The payload of a blob written by <see cref="Wrap"/>.</summary>
    /// <exception cref="InvalidDataException">Not an envelope, or truncated/extended; the message starts with <paramref name="where"/>.</exception>
    public static ReadOnlyMemory<byte> Unwrap(byte[] bytes, string where)
    {
        if (bytes.Length < HeaderLength || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException($"{where}: not a grain-state blob (expected the QSTGS1 header, got {bytes.Length} bytes)");
        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(Magic.Length + IdLength));
        if (length != bytes.Length - HeaderLength)
            throw new InvalidDataException($"{where}: header says {length} payload bytes, the blob holds {bytes.Length - HeaderLength} (truncated or corrupt)");
        return bytes.AsMemory(HeaderLength);
    }
}
