using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using QstOrleans.Model.SafeTensors;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.SafeTensors;

public sealed class SafeTensorsWriterTests
{
    /// <summary>Parses the writer's output with System.Text.Json and raw byte arithmetic only.</summary>
    [Fact]
    public void WriterLayoutMatchesTheFormat()
    {
        using var dir = new TestDirectory();
        string path = dir.File("w.safetensors");
        var w = new SafeTensorsWriter();
        w.Add("b", SafeTensorDType.F32, new long[] { 3 }, HandMade.F32(1f, 2f, 3f)); // added first, sorts second
        w.Add("a", SafeTensorDType.I64, new long[] { 2 }, HandMade.I64(-1, 7));
        w.Add("c", SafeTensorDType.U8, new long[] { 1 }, new byte[] { 5 });
        w.Metadata["format"] = "pt";
        w.Write(path);

        var bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);                                   // padded to a multiple of 8
        Assert.Equal(8 + n + 16 + 12 + 1, bytes.Length);          // header + I64[2] + F32[3] + U8[1]
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        string json = header.TrimEnd(' ');
        Assert.EndsWith("}", json);                               // padding is spaces only
        Assert.True(header.Length - json.Length < 8);

        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("pt", root.GetProperty("__metadata__").GetProperty("format").GetString());
        int[] Offsets(string name) => root.GetProperty(name).GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(new[] { 0, 16 }, Offsets("a"));              // sorted by name: a, b, c
        Assert.Equal(new[] { 16, 28 }, Offsets("b"));
        Assert.Equal(new[] { 28, 29 }, Offsets("c"));
        Assert.Equal("I64", root.GetProperty("a").GetProperty("dtype").GetString());
        Assert.Equal("[3]", root.GetProperty("b").GetProperty("shape").GetRawText());
        Assert.True(json.IndexOf("\"a\"", StringComparison.Ordinal) < json.IndexOf("\"b\"", StringComparison.Ordinal));

        var data = bytes.AsSpan((int)(8 + n));
        Assert.Equal(HandMade.Concat(HandMade.I64(-1, 7), HandMade.F32(1f, 2f, 3f), new byte[] { 5 }), data.ToArray());
        Assert.Equal(new[] { path }, Directory.GetFiles(dir.Path)); // no temp file left behind
    }

    [Fact]
    public void OutputIsDeterministic()
    {
        using var dir = new TestDirectory();
        var w1 = new SafeTensorsWriter();
        var w2 = new SafeTensorsWriter();
        w1.Add("x", SafeTensorDType.U8, new long[] { 2 }, new byte[] { 1, 2 });
        w1.Add("y", SafeTensorDType.I16, new long[] { 1 }, HandMade.I16(3));
        w2.Add("y", SafeTensorDType.I16, new long[] { 1 }, HandMade.I16(3));
        w2.Add("x", SafeTensorDType.U8, new long[] { 2 }, new byte[] { 1, 2 });
        w1.Metadata["k2"] = "v"; w1.Metadata["k1"] = "u";
        w2.Metadata["k1"] = "u"; w2.Metadata["k2"] = "v";
        w1.Write(dir.File("1.safetensors"));
        w2.Write(dir.File("2.safetensors"));
        Assert.Equal(File.ReadAllBytes(dir.File("1.safetensors")), File.ReadAllBytes(dir.File("2.safetensors")));
    }

    [Fact]
    public void EveryDtypeRoundTripsIncludingScalarsAndEmpty()
    {
        using var dir = new TestDirectory();
        using var scope = NewDisposeScope();
        string path = dir.File("rt.safetensors");
        var w = new SafeTensorsWriter();
        w.Add("f64", tensor(new[] { 1.5, -2.25, 1e300 }));
        w.Add("f32", tensor(new[] { 1f, -2.5f, 3.25f, 1e-3f }).reshape(2, 2));
        w.Add("f16", tensor(new[] { 1f, -2f, 0.5f, 65504f }).to_type(ScalarType.Float16));
        w.Add("bf16", tensor(new[] { 1.5f, -2f, 0.15625f }).to_type(ScalarType.BFloat16));
        w.Add("i64", tensor(new[] { long.MinValue, long.MaxValue, 0 }));
        w.Add("i32", tensor(new[] { int.MinValue, 3 }));
        w.Add("i16", tensor(new short[] { -5, 300 }));
        w.Add("i8", tensor(new sbyte[] { -128, 127 }));
        w.Add("u8", tensor(new byte[] { 0, 255, 3 }).reshape(3, 1));
        w.Add("bool", tensor(new[] { true, false, false, true }));
        w.Add("scalar_f32", tensor(2.75f));
        w.Add("scalar_bool", tensor(true));
        w.Add("empty_bf16", zeros(new long[] { 0, 4 }, ScalarType.BFloat16));
        w.Add("empty_i64", zeros(new long[] { 3, 0 }, ScalarType.Int64));
        // Non-contiguous input: the transpose of [[1,2,3],[4,5,6]] is written row-major as 1,4,2,5,3,6.
        w.Add("transposed", tensor(new[] { 1, 2, 3, 4, 5, 6 }).reshape(2, 3).t());
        w.Write(path);

        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(new[] { 1.5, -2.25, 1e300 }, f.ReadTensor("f64").data<double>().ToArray());
        Assert.Equal(new[] { 1f, -2.5f, 3.25f, 1e-3f }, f.ReadTensor("f32").data<float>().ToArray());
        Assert.Equal(new long[] { 2, 2 }, f.ReadTensor("f32").shape);
        Assert.Equal(ScalarType.Float16, f.ReadTensor("f16").dtype);
        Assert.Equal(HandMade.U16(0x3C00, 0xC000, 0x3800, 0x7BFF), f.ReadBytes("f16"));
        Assert.Equal(HandMade.U16(HandMade.Bf16Bits(1.5f), HandMade.Bf16Bits(-2f), HandMade.Bf16Bits(0.15625f)), f.ReadBytes("bf16"));
        Assert.Equal(new[] { 1.5f, -2f, 0.15625f }, f.ReadTensor("bf16").to_type(ScalarType.Float32).data<float>().ToArray());
        Assert.Equal(new[] { long.MinValue, long.MaxValue, 0 }, f.ReadTensor("i64").data<long>().ToArray());
        Assert.Equal(new[] { int.MinValue, 3 }, f.ReadTensor("i32").data<int>().ToArray());
        Assert.Equal(new short[] { -5, 300 }, f.ReadTensor("i16").data<short>().ToArray());
        Assert.Equal(new byte[] { 0x80, 0x7F }, f.ReadBytes("i8"));
        Assert.Equal(new byte[] { 0, 255, 3 }, f.ReadTensor("u8").data<byte>().ToArray());
        Assert.Equal(new long[] { 3, 1 }, f.Tensors["u8"].Shape);
        Assert.Equal(new byte[] { 1, 0, 0, 1 }, f.ReadBytes("bool"));
        Assert.Equal(ScalarType.Bool, f.ReadTensor("bool").dtype);
        Assert.Empty(f.Tensors["scalar_f32"].Shape);
        Assert.Equal(2.75f, f.ReadTensor("scalar_f32").item<float>());
        Assert.True(f.ReadTensor("scalar_bool").item<bool>());
        Assert.Equal(new long[] { 0, 4 }, f.ReadTensor("empty_bf16").shape);
        Assert.Equal(ScalarType.BFloat16, f.ReadTensor("empty_bf16").dtype);
        Assert.Equal(new long[] { 3, 0 }, f.ReadTensor("empty_i64").shape);
        Assert.Equal(0, f.Tensors["empty_i64"].ByteLength);
        Assert.Equal(new[] { 1, 4, 2, 5, 3, 6 }, f.ReadTensor("transposed").data<int>().ToArray());
        Assert.Equal(new long[] { 3, 2 }, f.Tensors["transposed"].Shape);
    }

    [Fact]
    public void MetadataRoundTripsAndEmptyMetadataIsOmitted()
    {
        using var dir = new TestDirectory();
        var w = new SafeTensorsWriter();
        w.Metadata["format"] = "pt";
        w.Metadata["quant"] = "nf4 \"double\" ünïcode";
        w.Add("t", SafeTensorDType.U8, new long[] { 1 }, new byte[] { 1 });
        w.Write(dir.File("m.safetensors"));
        using (var f = SafeTensorsFile.Open(dir.File("m.safetensors")))
            Assert.Equal(new Dictionary<string, string> { ["format"] = "pt", ["quant"] = "nf4 \"double\" ünïcode" }, f.Metadata);

        var plain = new SafeTensorsWriter();
        plain.Add("t", SafeTensorDType.U8, new long[] { 1 }, new byte[] { 1 });
        plain.Write(dir.File("p.safetensors"));
        Assert.DoesNotContain("__metadata__", File.ReadAllText(dir.File("p.safetensors")));
        using var p = SafeTensorsFile.Open(dir.File("p.safetensors"));
        Assert.Empty(p.Metadata);
    }

    [Fact]
    public void EmptyFileHasOnlyAHeader()
    {
        using var dir = new TestDirectory();
        new SafeTensorsWriter().Write(dir.File("e.safetensors"));
        var bytes = File.ReadAllBytes(dir.File("e.safetensors"));
        Assert.Equal(16, bytes.Length);                    // "{}" padded to 8 bytes
        Assert.Equal("{}      ", Encoding.ASCII.GetString(bytes, 8, 8));
        using var f = SafeTensorsFile.Open(dir.File("e.safetensors"));
        Assert.Empty(f.Tensors);
    }

    [Fact]
    public void AddRejectsBadInput()
    {
        var w = new SafeTensorsWriter();
        w.Add("a", SafeTensorDType.U8, new long[] { 1 }, new byte[] { 1 });
        var ex = Assert.Throws<ArgumentException>(() => w.Add("x", SafeTensorDType.F32, new long[] { 3, 4 }, new byte[10]));
        Assert.Contains("'x'", ex.Message);
        Assert.Contains("needs 48", ex.Message);
        Assert.Throws<ArgumentException>(() => w.Add("a", SafeTensorDType.U8, new long[] { 1 }, new byte[] { 1 }));
        Assert.Throws<ArgumentException>(() => w.Add("__metadata__", SafeTensorDType.U8, new long[] { 1 }, new byte[] { 1 }));
        Assert.Throws<ArgumentException>(() => w.Add("n", SafeTensorDType.U8, new long[] { -1 }, Array.Empty<byte>()));
        using var c = zeros(new long[] { 2 }, ScalarType.ComplexFloat32);
        Assert.Throws<NotSupportedException>(() => w.Add("c", c));
    }

    /// <summary>A failure half way through writing must leave the old file untouched and no temp file.</summary>
    [Fact]
    public void FailedWriteKeepsTheOldFile()
    {
        using var dir = new TestDirectory();
        string path = dir.File("model.safetensors");
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        var w = new SafeTensorsWriter();
        w.Add("a", SafeTensorDType.U8, new long[] { 4 }, new byte[] { 1, 2, 3, 4 });
        var doomed = zeros(new long[] { 8 });
        w.AddBorrowed("b", doomed);
        doomed.Dispose(); // its bytes are fetched only after the header and "a" are written
        Assert.ThrowsAny<Exception>(() => w.Write(path));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
