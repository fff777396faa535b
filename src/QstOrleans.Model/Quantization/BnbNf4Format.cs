using System.Globalization;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// The bitsandbytes / Hugging Face pre-quantized 4-bit checkpoint layout (spec §9.7) for one
/// quantized Linear <c>&lt;prefix&gt;</c>:
/// <list type="table">
/// <item><c>.weight</c>: U8 [(n+1)/2, 1] packed nibbles</item>
/// <item><c>.weight.absmax</c>: U8 [n_blocks] when nested, F32 [n_blocks] when not</item>
/// <item><c>.weight.quant_map</c>: F32 [16]</item>
/// <item><c>.weight.nested_absmax</c>: F32 [ceil(n_blocks/256)] (nested only)</item>
/// <item><c>.weight.nested_quant_map</c>: F32 [256] (nested only)</item>
/// <item><c>.weight.quant_state.bitsandbytes__nf4</c>: U8, UTF-8 JSON {quant_type, blocksize, dtype,
/// shape, and when nested nested_blocksize, nested_dtype, nested_offset}</item>
/// </list>
/// Works on plain tensors and delegates; the safetensors reader/writer is wired in by the caller.
/// Decoding always uses the stored quant_map and nested_quant_map (bitsandbytes' own maps can
/// differ from ours by an ulp).
/// Throws <see cref="InvalidDataException"/> from <see cref="Read"/> with a message naming the
/// source and the tensor: missing tensor, fp4 or other quant_type, blocksize ≠ 64, bad JSON,
/// wrong dtype, or a length that does not match the recorded shape.
/// </summary>
public static class BnbNf4Format
{
    /// <summary>Suffix (after the prefix) of the JSON quant-state tensor for NF4.</summary>
    public const string QuantStateSuffix = ".weight.quant_state.bitsandbytes__nf4";

    // bitsandbytes writes this key for FP4 weights; detected only to give a clear error.
    private const string Fp4QuantStateSuffix = ".weight.quant_state.bitsandbytes__fp4";

    /// <summary>
    /// The entries bitsandbytes would write for <paramref name="q"/>. The tensors are new handles
    /// (views sharing q's storage, plus a fresh JSON byte tensor); the caller disposes them.
    /// </summary>
    public static IEnumerable<(string Name, Tensor Tensor)> ToEntries(string prefix, Nf4Tensor q)
    {
        ArgumentNullException.ThrowIfNull(q);
        var w = prefix + ".weight";
        var entries = new List<(string, Tensor)>
        {
            (w, q.Packed.reshape(-1, 1)), // [(n+1)/2, 1] as bitsandbytes stores it
            (w + ".absmax", (q.DoubleQuantized ? q.QuantizedAbsmax! : q.Absmax!).alias()),
            (w + ".quant_map", q.QuantMap.alias()),
        };
        if (q.DoubleQuantized)
        {
            entries.Add((w + ".nested_absmax", q.NestedAbsmax!.alias()));
            entries.Add((w + ".nested_quant_map", q.NestedQuantMap!.alias()));
        }
        entries.Add((prefix + QuantStateSuffix, tensor(Encoding.UTF8.GetBytes(StateJson(q)))));
        return entries;
    }

    /// <summary>
    /// The quant-state JSON, key order and separators as Python's <c>json.dumps</c> of bitsandbytes'
    /// <c>QuantState.as_dict(packed=True)</c> non-tensor items.
    /// </summary>
    internal static string StateJson(Nf4Tensor q)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("{\"quant_type\": \"nf4\", \"blocksize\": ").Append(Nf4Code.BlockSize)
          .Append(", \"dtype\": \"").Append(DTypeName(q.OriginalDType))
          .Append("\", \"shape\": [").Append(string.Join(", ", q.Shape)).Append(']');
        if (q.DoubleQuantized)
        {
            sb.Append(", \"nested_blocksize\": ").Append(Nf4Tensor.NestedBlockSize)
              .Append(", \"nested_dtype\": \"float32\", \"nested_offset\": ")
              // The double of the fp32 offset, shortest round-trip form (what Python's float repr gives).
              .Append(((double)q.NestedOffset).ToString("R", ci));
        }
        return sb.Append('}').ToString();
    }

    private static string DTypeName(ScalarType t) => t switch
    {
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        ScalarType.Float32 => "float32",
        _ => throw new ArgumentException($"No bitsandbytes dtype name for {t}."),
    };

    /// <summary>Whether <paramref name="prefix"/> is stored as a bitsandbytes 4-bit weight (NF4 or FP4).</summary>
    public static bool IsQuantized(string prefix, Func<string, bool> contains) =>
        contains(prefix + QuantStateSuffix) || contains(prefix + Fp4QuantStateSuffix);

    /// <summary>
    /// Reads and validates one NF4 weight. Tensors returned by <paramref name="read"/> are owned by
    /// the result from then on (or disposed on failure).
    /// </summary>
    /// <exception cref="InvalidDataException">Missing/inconsistent tensors or quant state; the message
    /// names <paramref name="sourceName"/> and the tensor.</exception>
    public static Nf4Tensor Read(string prefix, Func<string, bool> contains, Func<string, Tensor> read, string sourceName)
    {
        var w = prefix + ".weight";
        var stateName = prefix + QuantStateSuffix;
        if (!contains(stateName))
        {
            if (contains(prefix + Fp4QuantStateSuffix))
                throw Bad(sourceName, prefix + Fp4QuantStateSuffix, "quant_type fp4 is not supported (only nf4)");
            throw Bad(sourceName, stateName, "missing");
        }

        var state = ParseState(sourceName, stateName, read);
        long n = state.Shape.Aggregate(1L, (a, b) => a * b);
        long blocks = (n + Nf4Code.BlockSize - 1) / Nf4Code.BlockSize;

        var owned = new List<Tensor>();
        Tensor Load(string name, ScalarType dtype, long length)
        {
            if (!contains(name)) throw Bad(sourceName, name, "missing");
            var t = read(name);
            owned.Add(t);
            if (t.dtype != dtype) throw Bad(sourceName, name, $"dtype is {t.dtype}, expected {dtype}");
            if (t.numel() != length)
                throw Bad(sourceName, name, $"has {t.numel()} elements, expected {length} for shape [{string.Join(", ", state.Shape)}]");
            return t;
        }

        try
        {
            var packed = Load(w, ScalarType.Byte, (n + 1) / 2);
            var quantMap = Load(w + ".quant_map", ScalarType.Float32, 16);
            if (!state.Nested)
            {
                var absmax = Load(w + ".absmax", ScalarType.Float32, blocks);
                return new Nf4Tensor(state.Shape, packed, absmax, null, null, 0f, quantMap, null, state.DType);
            }
            var q8 = Load(w + ".absmax", ScalarType.Byte, blocks);
            var nested = Load(w + ".nested_absmax", ScalarType.Float32, (blocks + Nf4Tensor.NestedBlockSize - 1) / Nf4Tensor.NestedBlockSize);
            var nestedMap = Load(w + ".nested_quant_map", ScalarType.Float32, DynamicQuantMap.Size);
            return new Nf4Tensor(state.Shape, packed, null, q8, nested, state.NestedOffset, quantMap, nestedMap, state.DType);
        }
        catch
        {
            foreach (var t in owned) t.Dispose();
            throw;
        }
    }

    private sealed record State(long[] Shape, ScalarType DType, bool Nested, float NestedOffset);

    private static State ParseState(string source, string name, Func<string, Tensor> read)
    {
        string json;
        using (var t = read(name))
        {
            if (t.dtype != ScalarType.Byte)
                throw Bad(source, name, $"dtype is {t.dtype}, expected Byte (UTF-8 JSON)");
            using var flat = t.reshape(-1).contiguous();
            json = Encoding.UTF8.GetString(flat.bytes);
        }

        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw Bad(source, name, $"is not valid JSON ({e.Message})"); }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(source, name, "JSON is not an object");

            var quantType = GetString(root, "quant_type", source, name);
            if (quantType != "nf4") throw Bad(source, name, $"quant_type is \"{quantType}\", expected \"nf4\"");
            var blocksize = GetLong(root, "blocksize", source, name);
            if (blocksize != Nf4Code.BlockSize) throw Bad(source, name, $"blocksize is {blocksize}, expected {Nf4Code.BlockSize}");

            if (!root.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array || shapeEl.GetArrayLength() == 0)
                throw Bad(source, name, "\"shape\" missing or not a non-empty array");
            var shape = shapeEl.EnumerateArray().Select(e =>
                e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v) && v > 0 ? v
                    : throw Bad(source, name, $"\"shape\" entry {e} is not a positive integer")).ToArray();

            var dtype = root.TryGetProperty("dtype", out var dEl) ? dEl.GetString() switch
            {
                "bfloat16" => ScalarType.BFloat16,
                "float16" => ScalarType.Float16,
                "float32" => ScalarType.Float32,
                var other => throw Bad(source, name, $"dtype \"{other}\" is not bfloat16, float16 or float32"),
            } : ScalarType.BFloat16;

            bool nested = root.TryGetProperty("nested_offset", out var offEl);
            float offset = 0f;
            if (nested)
            {
                if (offEl.ValueKind != JsonValueKind.Number) throw Bad(source, name, "\"nested_offset\" is not a number");
                offset = (float)offEl.GetDouble();
                var nestedBlocksize = GetLong(root, "nested_blocksize", source, name);
                if (nestedBlocksize != Nf4Tensor.NestedBlockSize)
                    throw Bad(source, name, $"nested_blocksize is {nestedBlocksize}, expected {Nf4Tensor.NestedBlockSize}");
                if (root.TryGetProperty("nested_dtype", out var ndEl) && ndEl.GetString() != "float32")
                    throw Bad(source, name, $"nested_dtype is \"{ndEl}\", expected \"float32\"");
            }
            return new State(shape, dtype, nested, offset);
        }
    }

    private static string GetString(JsonElement root, string key, string source, string name) =>
        root.TryGetProperty(key, out var el) && el.ValueKind == JsonValueKind.String
            ? el.GetString()!
            : throw Bad(source, name, $"\"{key}\" missing or not a string");

    private static long GetLong(JsonElement root, string key, string source, string name) =>
        root.TryGetProperty(key, out var el) && el.ValueKind == JsonValueKind.Number && el.TryGetInt64(out var v)
            ? v
            : throw Bad(source, name, $"\"{key}\" missing or not an integer");

    private static InvalidDataException Bad(string source, string tensorName, string what) =>
        new($"{source}: tensor '{tensorName}': {what}.");
}
