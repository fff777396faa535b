using QstOrleans.Model.SafeTensors;

namespace QstOrleans.Tests.SafeTensors;

/// <summary>Every malformed file gives a <see cref="SafeTensorsFormatException"/> naming the file and tensor.</summary>
public sealed class SafeTensorsValidationTests
{
    private static SafeTensorsFormatException OpenFails(string path, string? tensor, string expectedFragment)
    {
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Equal(Path.GetFullPath(path), ex.FilePath);
        Assert.Contains(Path.GetFileName(path), ex.Message);
        Assert.Equal(tensor, ex.TensorName);
        if (tensor is not null) Assert.Contains($"'{tensor}'", ex.Message);
        Assert.Contains(expectedFragment, ex.Message);
        return ex;
    }

    private static string OneEntry(string dtype, string shape, string offsets) =>
        $"{{\"w.weight\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":{offsets}}}}}";

    [Fact]
    public void ByteCountMismatchHasTheDocumentedMessage()
    {
        using var dir = new TestDirectory();
        string path = dir.File("model.safetensors");
        HandMade.Write(path, "{\"model.layers.0.mlp.up_proj.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,10]}}", new byte[10]);
        var ex = OpenFails(path, "model.layers.0.mlp.up_proj.weight", "needs 48");
        Assert.Equal($"{Path.GetFullPath(path)}: tensor 'model.layers.0.mlp.up_proj.weight': data_offsets [0, 10] hold 10 bytes but F32 [3, 4] needs 48",
            ex.Message);
    }

    [Fact]
    public void FileShorterThanEightBytes()
    {
        using var dir = new TestDirectory();
        string path = dir.File("short.safetensors");
        File.WriteAllBytes(path, new byte[] { 1, 2, 3, 4, 5 });
        OpenFails(path, null, "5 bytes");
        File.WriteAllBytes(path, Array.Empty<byte>());
        OpenFails(path, null, "0 bytes");
    }

    [Fact]
    public void HeaderLengthPastEndOfFile()
    {
        using var dir = new TestDirectory();
        string path = dir.File("trunc.safetensors");
        HandMade.WriteRaw(path, 1000, System.Text.Encoding.UTF8.GetBytes("{\"a\":"));
        OpenFails(path, null, "header length 1000 runs past");
    }

    [Fact]
    public void HeaderLengthOverLimit()
    {
        using var dir = new TestDirectory();
        string path = dir.File("big.safetensors");
        HandMade.WriteRaw(path, 200_000_000, new byte[16]);
        OpenFails(path, null, "exceeds");
        HandMade.WriteRaw(path, ulong.MaxValue, new byte[16]); // must not wrap to a negative length
        OpenFails(path, null, "exceeds");
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("[1, 2]", "must be a JSON object")]
    [InlineData("{\"__metadata__\": [\"x\"]}", "__metadata__ must be an object")]
    [InlineData("{\"__metadata__\": {\"n\": 1}}", "entry 'n' must be a string")]
    public void BadJsonWithoutTensor(string header, string fragment)
    {
        using var dir = new TestDirectory();
        string path = dir.File("bad.safetensors");
        HandMade.Write(path, header, Array.Empty<byte>());
        OpenFails(path, null, fragment);
    }

    [Theory]
    [InlineData("{\"w.weight\": 5}", "must be an object")]
    [InlineData("{\"w.weight\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "dtype")]
    [InlineData("{\"w.weight\":{\"dtype\":\"F32\",\"shape\":\"[1]\",\"data_offsets\":[0,4]}}", "shape")]
    [InlineData("{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "shape entry 0")]
    [InlineData("{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "shape entry 0")]
    [InlineData("{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "data_offsets")]
    [InlineData("{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", "data_offsets entry 1")]
    [InlineData("{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "twice")]
    public void WrongJsonShapeNamesTheTensor(string header, string fragment)
    {
        using var dir = new TestDirectory();
        string path = dir.File("shape.safetensors");
        HandMade.Write(path, header, new byte[8]);
        OpenFails(path, "w.weight", fragment);
    }

    [Fact]
    public void UnknownDtype()
    {
        using var dir = new TestDirectory();
        string path = dir.File("dt.safetensors");
        HandMade.Write(path, OneEntry("F8_E4M3", "[4]", "[0,4]"), new byte[4]);
        OpenFails(path, "w.weight", "unsupported dtype 'F8_E4M3'");
        HandMade.Write(path, OneEntry("f32", "[1]", "[0,4]"), new byte[4]); // dtype names are case-sensitive
        OpenFails(path, "w.weight", "'f32'");
    }

    [Fact]
    public void OffsetsPastDataBufferMeansTruncated()
    {
        using var dir = new TestDirectory();
        string path = dir.File("cut.safetensors");
        HandMade.Write(path, OneEntry("F32", "[3,4]", "[0,48]"), new byte[20]); // file cut after 20 data bytes
        OpenFails(path, "w.weight", "past the data buffer of 20 bytes");
    }

    [Fact]
    public void BeginAfterEnd()
    {
        using var dir = new TestDirectory();
        string path = dir.File("rev.safetensors");
        HandMade.Write(path, OneEntry("U8", "[4]", "[8,4]"), new byte[8]);
        OpenFails(path, "w.weight", "begin > end");
    }

    [Fact]
    public void OverlappingTensors()
    {
        using var dir = new TestDirectory();
        string path = dir.File("ov.safetensors");
        HandMade.Write(path,
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
            new byte[10]);
        var ex = OpenFails(path, "b", "overlap");
        Assert.Contains("'a'", ex.Message);
    }

    [Fact]
    public void EmptyTensorsSharingAnOffsetAreNotOverlaps()
    {
        using var dir = new TestDirectory();
        string path = dir.File("ok.safetensors");
        HandMade.Write(path,
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
            new byte[8]);
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(2, f.Tensors.Count);
    }

    [Fact]
    public void MissingFileAndUnknownTensor()
    {
        using var dir = new TestDirectory();
        string missing = dir.File("nothere.safetensors");
        OpenFails(missing, null, "does not exist");

        string path = dir.File("one.safetensors");
        HandMade.Write(path, OneEntry("U8", "[1]", "[0,1]"), new byte[1]);
        using var f = SafeTensorsFile.Open(path);
        var ex = Assert.Throws<SafeTensorsFormatException>(() => f.ReadTensor("lm_head.weight"));
        Assert.Equal("lm_head.weight", ex.TensorName);
        Assert.Contains("one.safetensors", ex.Message);
        Assert.Contains("'lm_head.weight'", ex.Message);
        Assert.Contains("not found", ex.Message);
        Assert.Throws<SafeTensorsFormatException>(() => f.ReadBytes("nope"));
    }

    [Fact]
    public void ReadAfterDisposeThrows()
    {
        using var dir = new TestDirectory();
        string path = dir.File("d.safetensors");
        HandMade.Write(path, OneEntry("U8", "[1]", "[0,1]"), new byte[1]);
        var f = SafeTensorsFile.Open(path);
        f.Dispose();
        f.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => f.ReadTensor("w.weight"));
    }
}
