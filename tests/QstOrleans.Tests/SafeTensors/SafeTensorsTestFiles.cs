using System.Text;

namespace QstOrleans.Tests.SafeTensors;

/// <summary>Builds safetensors files byte by byte, independently of the code under test.</summary>
internal static class HandMade
{
    /// <summary>8-byte little-endian header length, the UTF-8 header exactly as given, then the data.</summary>
    public static void Write(string path, string headerJson, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        using var bw = new BinaryWriter(System.IO.File.Create(path));
        bw.Write((ulong)header.Length); // BinaryWriter is always little-endian
        bw.Write(header);
        bw.Write(data);
    }

    /// <summary>Raw prefix + bytes, for files that are broken before the header.</summary>
    public static void WriteRaw(string path, ulong headerLength, byte[] rest)
    {
        using var bw = new BinaryWriter(System.IO.File.Create(path));
        bw.Write(headerLength);
        bw.Write(rest);
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static byte[] F32(params float[] v) => Concat(v.Select(BitConverter.GetBytes).ToArray());
    public static byte[] F64(params double[] v) => Concat(v.Select(BitConverter.GetBytes).ToArray());
    public static byte[] I64(params long[] v) => Concat(v.Select(BitConverter.GetBytes).ToArray());
    public static byte[] I32(params int[] v) => Concat(v.Select(BitConverter.GetBytes).ToArray());
    public static byte[] I16(params short[] v) => Concat(v.Select(BitConverter.GetBytes).ToArray());
    public static byte[] U16(params ushort[] v) => Concat(v.Select(BitConverter.GetBytes).ToArray());

    /// <summary>bfloat16 = the upper 16 bits of the float32 pattern (exact for these test values).</summary>
    public static ushort Bf16Bits(float f) => (ushort)(BitConverter.SingleToUInt32Bits(f) >> 16);
}
