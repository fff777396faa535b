using QstOrleans.Model.SafeTensors;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.SafeTensors;

/// <summary>Reads files built by hand and compares with the values that were written.</summary>
public sealed class SafeTensorsReaderTests
{
    private static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    [Fact]
    public void ReadsEveryDtypeWrittenByHand()
    {
        using var dir = new TestDirectory();
        var parts = new List<(string Name, string DType, string Shape, byte[] Bytes)>
        {
            ("f64", "F64", "[2]", HandMade.F64(1.5, -2.25)),
            ("f32", "F32", "[2,2]", HandMade.F32(1f, -2.5f, 3.25f, 1e-3f)),
            // IEEE half: 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800, 65504 (max) = 0x7BFF
            ("f16", "F16", "[4]", HandMade.U16(0x3C00, 0xC000, 0x3800, 0x7BFF)),
            ("bf16", "BF16", "[2,1]", HandMade.U16(HandMade.Bf16Bits(1.5f), HandMade.Bf16Bits(-2.0f))),
            ("i64", "I64", "[3]", HandMade.I64(long.MinValue, 5, -7)),
            ("i32", "I32", "[3]", HandMade.I32(int.MaxValue, -1, 42)),
            ("i16", "I16", "[2]", HandMade.I16(short.MinValue, 300)),
            ("i8", "I8", "[3]", new byte[] { 0x80, 0x7F, 0xFF }),      // -128, 127, -1
            ("u8", "U8", "[1,3]", new byte[] { 0, 255, 17 }),
            ("bool", "BOOL", "[3]", new byte[] { 1, 0, 1 }),
            ("scalar", "F32", "[]", HandMade.F32(3.5f)),
            ("empty", "F32", "[0,3]", Array.Empty<byte>()),
        };
        long offset = 0;
        var entries = new List<string> { "\"__metadata__\":{\"format\":\"pt\",\"note\":\"hand\"}" };
        foreach (var p in parts)
        {
            entries.Add(Entry(p.Name, p.DType, p.Shape, offset, offset + p.Bytes.Length));
            offset += p.Bytes.Length;
        }
        string path = dir.File("all.safetensors");
        HandMade.Write(path, "{" + string.Join(",", entries) + "}   ", HandMade.Concat(parts.Select(p => p.Bytes).ToArray()));

        using var f = SafeTensorsFile.Open(path);
        using var scope = NewDisposeScope();
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt", ["note"] = "hand" }, f.Metadata);
        Assert.Equal(parts.Count, f.Tensors.Count);
        Assert.False(f.Contains("__metadata__"));

        var f64 = f.ReadTensor("f64");
        Assert.Equal(ScalarType.Float64, f64.dtype);
        Assert.Equal(new[] { 1.5, -2.25 }, f64.data<double>().ToArray());

        var f32 = f.ReadTensor("f32");
        Assert.Equal(new long[] { 2, 2 }, f32.shape);
        Assert.Equal(new[] { 1f, -2.5f, 3.25f, 1e-3f }, f32.data<float>().ToArray());

        var f16 = f.ReadTensor("f16");
        Assert.Equal(ScalarType.Float16, f16.dtype);
        Assert.Equal(new[] { 1f, -2f, 0.5f, 65504f }, f16.to_type(ScalarType.Float32).data<float>().ToArray());

        var bf16 = f.ReadTensor("bf16");
        Assert.Equal(ScalarType.BFloat16, bf16.dtype);
        Assert.Equal(new long[] { 2, 1 }, bf16.shape);
        Assert.Equal(new[] { 1.5f, -2.0f }, bf16.to_type(ScalarType.Float32).data<float>().ToArray());

        Assert.Equal(new[] { long.MinValue, 5, -7 }, f.ReadTensor("i64").data<long>().ToArray());
        Assert.Equal(new[] { int.MaxValue, -1, 42 }, f.ReadTensor("i32").data<int>().ToArray());
        Assert.Equal(new short[] { short.MinValue, 300 }, f.ReadTensor("i16").data<short>().ToArray());
        var i8 = f.ReadTensor("i8");
        Assert.Equal(ScalarType.Int8, i8.dtype);
        Assert.Equal(new sbyte[] { -128, 127, -1 }, i8.data<sbyte>().ToArray());
        var u8 = f.ReadTensor("u8");
        Assert.Equal(ScalarType.Byte, u8.dtype);
        Assert.Equal(new byte[] { 0, 255, 17 }, u8.data<byte>().ToArray());
        var b = f.ReadTensor("bool");
        Assert.Equal(ScalarType.Bool, b.dtype);
        Assert.Equal(new[] { true, false, true }, b.data<bool>().ToArray());

        var scalar = f.ReadTensor("scalar");
        Assert.Empty(scalar.shape);
        Assert.Equal(3.5f, scalar.item<float>());

        var empty = f.ReadTensor("empty");
        Assert.Equal(new long[] { 0, 3 }, empty.shape);
        Assert.Equal(0, empty.NumberOfElements);

        Assert.Equal(HandMade.I32(int.MaxValue, -1, 42), f.ReadBytes("i32"));
        var dest = new byte[8];
        f.CopyBytes("f16", dest);
        Assert.Equal(HandMade.U16(0x3C00, 0xC000, 0x3800, 0x7BFF), dest);
        Assert.Throws<ArgumentException>(() => f.CopyBytes("f16", new byte[7]));
    }

    [Fact]
    public void InfoReportsOffsetsRelativeToDataBuffer()
    {
        using var dir = new TestDirectory();
        string path = dir.File("x.safetensors");
        HandMade.Write(path, "{" + Entry("a", "I32", "[2]", 0, 8) + "," + Entry("b", "U8", "[3]", 8, 11) + "}",
            HandMade.Concat(HandMade.I32(1, 2), new byte[] { 9, 8, 7 }));
        using var f = SafeTensorsFile.Open(path);
        var b = f.Tensors["b"];
        Assert.Equal((8L, 11L, 3L, 3L), (b.Begin, b.End, b.ByteLength, b.ElementCount));
        Assert.Equal(SafeTensorDType.U8, b.DType);
        Assert.Equal(new byte[] { 9, 8, 7 }, f.ReadBytes("b"));
    }

    [Fact]
    public void ReadTensorOwnsItsMemoryAfterDispose()
    {
        using var dir = new TestDirectory();
        string path = dir.File("x.safetensors");
        HandMade.Write(path, "{" + Entry("a", "F32", "[2]", 0, 8) + "}", HandMade.F32(7f, 8f));
        Tensor t;
        using (var f = SafeTensorsFile.Open(path)) t = f.ReadTensor("a");
        File.Delete(path);
        using (t) Assert.Equal(new[] { 7f, 8f }, t.data<float>().ToArray());
    }

    /// <summary>
    /// A 4 GiB sparse file: the header declares a huge tensor that is never read and a small one
    /// stored after it (offset past 2^32). Reading the small one must be quick and exact, which it
    /// only is if neither the header parse nor the read touches the rest of the data buffer.
    /// </summary>
    [Fact]
    public void ReadsOneTensorWithoutTouchingOthers()
    {
        using var dir = new TestDirectory();
        string path = dir.File("sparse.safetensors");
        const long huge = 4L << 30;
        var small = HandMade.F32(1.25f, -4f, 9f);
        string header = "{" + Entry("head", "I64", "[1]", 0, 8) + ","
                        + Entry("huge", "U8", $"[{huge}]", 8, 8 + huge) + ","
                        + Entry("tail", "F32", "[3]", 8 + huge, 8 + huge + 12) + "}";
        HandMade.Write(path, header, HandMade.I64(-99));
        long dataStart = 8 + System.Text.Encoding.UTF8.GetByteCount(header);
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            fs.Seek(dataStart + 8 + huge, SeekOrigin.Begin); // leaves a hole: no disk space, no writes
            fs.Write(small);
        }

        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(huge, f.Tensors["huge"].ByteLength);
        using var tail = f.ReadTensor("tail");
        Assert.Equal(new[] { 1.25f, -4f, 9f }, tail.data<float>().ToArray());
        using var head = f.ReadTensor("head");
        Assert.Equal(-99L, head.item<long>());
    }

    [Fact]
    public void ChunkedCopyGivesTheSameValues()
    {
        using var dir = new TestDirectory();
        string path = dir.File("x.safetensors");
        var values = Enumerable.Range(0, 101).Select(i => i * 0.5f - 7f).ToArray();
        HandMade.Write(path, "{" + Entry("v", "F32", "[101]", 0, 404) + "}", HandMade.F32(values));
        long saved = TensorBytes.ChunkBytes;
        TensorBytes.ChunkBytes = 24; // 6 floats per chunk, last chunk partial
        try
        {
            using var f = SafeTensorsFile.Open(path);
            using var t = f.ReadTensor("v");
            Assert.Equal(values, t.data<float>().ToArray());
            Assert.Equal(HandMade.F32(values), TensorBytes.ToArray(t));
        }
        finally
        {
            TensorBytes.ChunkBytes = saved;
        }
    }
}
