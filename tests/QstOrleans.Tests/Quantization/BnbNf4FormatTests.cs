using System.Text;
using System.Text.Json;
using QstOrleans.Model.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Quantization;

public sealed class BnbNf4FormatTests
{
    private const string Prefix = "model.layers.0.self_attn.q_proj";
    private const string StateKey = Prefix + ".weight.quant_state.bitsandbytes__nf4";
    private const string Source = "model-00001-of-00002.safetensors";

    private static Nf4Tensor MakeQuantized(bool doubleQuant, long rows = 96, long cols = 320)
    {
        using var gen = new Generator(11);
        using var w = randn(new[] { rows, cols }, generator: gen).to(ScalarType.BFloat16);
        return Nf4Quantizer.Quantize(w, doubleQuant);
    }

    private static Dictionary<string, Tensor> ToDict(Nf4Tensor q) =>
        BnbNf4Format.ToEntries(Prefix, q).ToDictionary(e => e.Name, e => e.Tensor);

    // Read takes ownership of what the delegate returns, so hand out fresh aliases like a file reader would.
    private static Nf4Tensor ReadBack(Dictionary<string, Tensor> d) =>
        BnbNf4Format.Read(Prefix, d.ContainsKey, name => d[name].alias(), Source);

    private static JsonElement StateJson(Dictionary<string, Tensor> d) =>
        JsonDocument.Parse(Encoding.UTF8.GetString(d[StateKey].bytes)).RootElement.Clone();

    private static Tensor JsonTensor(string json) => tensor(Encoding.UTF8.GetBytes(json));

    private static void AssertMeta(ScalarType dtype, long[] shape, Tensor t)
    {
        Assert.Equal(dtype, t.dtype);
        Assert.Equal(shape, t.shape);
    }

    [Fact]
    public void NestedEntriesHaveBitsandbytesNamesDtypesAndShapes()
    {
        using var scope = NewDisposeScope();
        using var q = MakeQuantized(doubleQuant: true);
        var d = ToDict(q);
        long n = 96 * 320, blocks = n / 64;
        var w = Prefix + ".weight";
        Assert.Equal(new[] { w, w + ".absmax", w + ".quant_map", w + ".nested_absmax", w + ".nested_quant_map", StateKey },
            BnbNf4Format.ToEntries(Prefix, q).Select(e => e.Name).ToArray());
        AssertMeta(ScalarType.Byte, new[] { n / 2, 1L }, d[w]);
        AssertMeta(ScalarType.Byte, new[] { blocks }, d[w + ".absmax"]);
        AssertMeta(ScalarType.Float32, new[] { 16L }, d[w + ".quant_map"]);
        AssertMeta(ScalarType.Float32, new[] { (blocks + 255) / 256 }, d[w + ".nested_absmax"]);
        AssertMeta(ScalarType.Float32, new[] { 256L }, d[w + ".nested_quant_map"]);
        Assert.Equal(ScalarType.Byte, d[StateKey].dtype);
        Assert.Equal(Nf4CodeTests.PublishedCode.Select(v => (float)v).ToArray(), d[w + ".quant_map"].data<float>().ToArray());

        var json = StateJson(d);
        Assert.Equal("nf4", json.GetProperty("quant_type").GetString());
        Assert.Equal(64, json.GetProperty("blocksize").GetInt32());
        Assert.Equal("bfloat16", json.GetProperty("dtype").GetString());
        Assert.Equal(new long[] { 96, 320 }, json.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        Assert.Equal(256, json.GetProperty("nested_blocksize").GetInt32());
        Assert.Equal("float32", json.GetProperty("nested_dtype").GetString());
        Assert.Equal(q.NestedOffset, (float)json.GetProperty("nested_offset").GetDouble());
    }

    [Fact]
    public void PlainEntriesHaveFp32AbsmaxAndNoNestedKeys()
    {
        using var scope = NewDisposeScope();
        using var q = MakeQuantized(doubleQuant: false);
        var d = ToDict(q);
        Assert.Equal(ScalarType.Float32, d[Prefix + ".weight.absmax"].dtype);
        Assert.False(d.ContainsKey(Prefix + ".weight.nested_absmax"));
        Assert.False(d.ContainsKey(Prefix + ".weight.nested_quant_map"));
        var json = StateJson(d);
        Assert.False(json.TryGetProperty("nested_offset", out _));
        Assert.False(json.TryGetProperty("nested_blocksize", out _));
        Assert.False(json.TryGetProperty("nested_dtype", out _));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RoundTripThroughEntriesReproducesTheWeight(bool doubleQuant)
    {
        using var scope = NewDisposeScope();
        using var q = MakeQuantized(doubleQuant);
        var d = ToDict(q);
        Assert.True(BnbNf4Format.IsQuantized(Prefix, d.ContainsKey));
        Assert.False(BnbNf4Format.IsQuantized("model.layers.0.self_attn.k_proj", d.ContainsKey));

        using var back = ReadBack(d);
        Assert.Equal(q.Shape, back.Shape);
        Assert.Equal(doubleQuant, back.DoubleQuantized);
        Assert.Equal(q.NestedOffset, back.NestedOffset);
        Assert.Equal(q.Dequantize().bytes.ToArray(), back.Dequantize().bytes.ToArray());
    }

    [Fact]
    public void DecodingUsesTheStoredMaps()
    {
        using var scope = NewDisposeScope();
        using var q = MakeQuantized(doubleQuant: true);
        var d = ToDict(q);
        // A file whose code is twice ours must decode to twice the weights; likewise a nested map
        // scaled by 2 moves every absmax by 2·DYN·absmax2.
        d[Prefix + ".weight.quant_map"] = q.QuantMap * 2;
        d[Prefix + ".weight.nested_quant_map"] = q.NestedQuantMap! * 2;
        using var back = ReadBack(d);

        var packed = q.Packed.data<byte>().ToArray();
        var absmax = Nf4Reference.Absmax(q);
        var map = q.NestedQuantMap!.data<float>().ToArray();
        var q8 = q.QuantizedAbsmax!.data<byte>().ToArray();
        var nested = q.NestedAbsmax!.data<float>().ToArray();
        var got = back.Dequantize(ScalarType.Float32).data<float>().ToArray();
        for (int i = 0; i < got.Length; i++)
        {
            int b = i / 64;
            float a = (map[q8[b]] * 2f) * nested[b / 256] + q.NestedOffset;
            float expected = (float)Nf4CodeTests.PublishedCode[Nf4Reference.Nibble(packed, i)] * 2f * a;
            Assert.Equal(expected, got[i]);
        }
        Assert.NotEqual(absmax, back.DequantizeAbsmax());
    }

    [Theory]
    [InlineData("{\"quant_type\": \"fp4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [96, 320], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.5}", "quant_type")]
    [InlineData("{\"quant_type\": \"nf4\", \"blocksize\": 128, \"dtype\": \"bfloat16\", \"shape\": [96, 320], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.5}", "blocksize")]
    [InlineData("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [96, 321], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.5}", "elements")]
    [InlineData("{\"quant_type\": \"nf4\", \"blocksize\": 64, ", "JSON")]
    public void CorruptStateIsRejectedNamingSourceAndTensor(string json, string what)
    {
        using var scope = NewDisposeScope();
        using var q = MakeQuantized(doubleQuant: true);
        var d = ToDict(q);
        d[StateKey] = JsonTensor(json);
        var ex = Assert.Throws<InvalidDataException>(() => ReadBack(d));
        Assert.Contains(Source, ex.Message);
        Assert.Contains(Prefix + ".weight", ex.Message);
        Assert.Contains(what, ex.Message);
    }

    [Fact]
    public void AbsmaxLengthMismatchIsRejectedNamingTheTensor()
    {
        using var scope = NewDisposeScope();
        using var q = MakeQuantized(doubleQuant: true);
        var d = ToDict(q);
        d[Prefix + ".weight.absmax"] = d[Prefix + ".weight.absmax"][..^1];
        var ex = Assert.Throws<InvalidDataException>(() => ReadBack(d));
        Assert.Contains(Source, ex.Message);
        Assert.Contains(Prefix + ".weight.absmax'", ex.Message);
    }

    [Fact]
    public void MissingStateOrFp4StateIsRejected()
    {
        using var scope = NewDisposeScope();
        using var q = MakeQuantized(doubleQuant: true);
        var d = ToDict(q);
        var state = d[StateKey];
        d.Remove(StateKey);
        Assert.Contains(StateKey, Assert.Throws<InvalidDataException>(() => ReadBack(d)).Message);
        d[Prefix + ".weight.quant_state.bitsandbytes__fp4"] = state;
        Assert.True(BnbNf4Format.IsQuantized(Prefix, d.ContainsKey));
        Assert.Contains("fp4", Assert.Throws<InvalidDataException>(() => ReadBack(d)).Message);
    }
}
