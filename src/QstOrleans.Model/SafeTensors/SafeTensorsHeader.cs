using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace QstOrleans.Model.SafeTensors;

/// <summary>
/// Parses and serializes the JSON header of a safetensors file (spec §11) and validates every
/// entry against the data buffer length. Pure: never touches the data buffer itself.
/// </summary>
internal static class SafeTensorsHeader
{
    /// <summary>Reference implementation's cap on the header length.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Key of the optional string-to-string metadata map.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>
    /// Parses <paramref name="json"/> and validates dtype, shape, offsets (inside
    /// [0, <paramref name="dataLength"/>], begin &lt;= end, no overlap) and byte counts.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">Any violation; names the file and tensor.</exception>
    public static (Dictionary<string, string> Metadata, Dictionary<string, SafeTensorInfo> Tensors) Parse(
        ReadOnlySpan<byte> json, string filePath, long dataLength)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(filePath, null, $"header is not valid JSON: {e.Message}", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException(filePath, null,
                    $"header must be a JSON object, found {doc.RootElement.ValueKind}");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == MetadataKey)
                {
                    if (sawMetadata)
                        throw new SafeTensorsFormatException(filePath, null, "header has two __metadata__ entries");
                    sawMetadata = true;
                    ParseMetadata(prop.Value, filePath, metadata);
                    continue;
                }
                // JsonDocument keeps duplicate keys; a second entry would silently shadow the first.
                if (tensors.ContainsKey(prop.Name))
                    throw new SafeTensorsFormatException(filePath, prop.Name, "tensor appears twice in the header");
                tensors.Add(prop.Name, ParseEntry(prop.Name, prop.Value, filePath, dataLength));
            }

            CheckOverlaps(tensors.Values, filePath);
            return (metadata, tensors);
        }
    }

    private static void ParseMetadata(JsonElement value, string filePath, Dictionary<string, string> into)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(filePath, null,
                $"__metadata__ must be an object of strings, found {value.ValueKind}");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new SafeTensorsFormatException(filePath, null,
                    $"__metadata__ entry '{p.Name}' must be a string, found {p.Value.ValueKind}");
            into[p.Name] = p.Value.GetString()!;
        }
    }

    private static SafeTensorInfo ParseEntry(string name, JsonElement value, string filePath, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(filePath, name, $"header entry must be an object, found {value.ValueKind}");

        // Unknown keys are ignored, as the reference (serde without deny_unknown_fields) does.
        if (!value.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new SafeTensorsFormatException(filePath, name, "missing or non-string \"dtype\"");
        var dtype = SafeTensorDTypes.Parse(dtypeEl.GetString()!, filePath, name);

        if (!value.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsFormatException(filePath, name, "missing or non-array \"shape\"");
        var shape = new long[shapeEl.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw new SafeTensorsFormatException(filePath, name,
                    $"shape entry {i} must be a non-negative integer, found {d.GetRawText()}");
            shape[i++] = dim;
        }

        if (!value.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array
            || offEl.GetArrayLength() != 2)
            throw new SafeTensorsFormatException(filePath, name, "\"data_offsets\" must be an array [begin, end]");
        var off = new long[2];
        for (int k = 0; k < 2; k++)
        {
            var e = offEl[k];
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out off[k]) || off[k] < 0)
                throw new SafeTensorsFormatException(filePath, name,
                    $"data_offsets entry {k} must be a non-negative integer, found {e.GetRawText()}");
        }

        var info = new SafeTensorInfo(name, dtype, shape, off[0], off[1]);
        string offText = $"data_offsets [{off[0]}, {off[1]}]";
        if (off[0] > off[1])
            throw new SafeTensorsFormatException(filePath, name, $"{offText} have begin > end");
        if (off[1] > dataLength)
            throw new SafeTensorsFormatException(filePath, name,
                $"{offText} run past the data buffer of {dataLength} bytes (file truncated?)");

        long need;
        try
        {
            need = checked(info.ElementCount * SafeTensorDTypes.ElementSize(dtype));
        }
        catch (OverflowException e)
        {
            throw new SafeTensorsFormatException(filePath, name, $"shape {info.ShapeText} overflows a 64-bit size", e);
        }
        if (need != info.ByteLength)
            throw new SafeTensorsFormatException(filePath, name,
                $"{offText} hold {info.ByteLength} bytes but {SafeTensorDTypes.ToName(dtype)} {info.ShapeText} needs {need}");
        return info;
    }

    private static void CheckOverlaps(IEnumerable<SafeTensorInfo> tensors, string filePath)
    {
        // Sorted by (begin, end), non-overlap means each range starts at or after the previous end.
        // Empty tensors (begin == end) never overlap anything.
        SafeTensorInfo? prev = null;
        foreach (var t in tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (prev is not null && t.Begin < prev.End)
                throw new SafeTensorsFormatException(filePath, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] overlap tensor '{prev.Name}' at [{prev.Begin}, {prev.End}]");
            prev = t;
        }
    }

    /// <summary>
    /// Serializes a compact header (metadata first, then tensors in the given order) and pads it
    /// with spaces to a multiple of 8 bytes, as the Rust reference does, so the data buffer starts
    /// 8-byte aligned. Returns the 8-byte little-endian length prefix followed by the header.
    /// </summary>
    public static byte[] Serialize(IReadOnlyDictionary<string, string> metadata, IEnumerable<SafeTensorInfo> tensors)
    {
        using var ms = new MemoryStream();
        // Relaxed escaping writes non-ASCII names as raw UTF-8 like serde_json, not \uXXXX.
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject(MetadataKey);
                foreach (var kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            foreach (var t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", SafeTensorDTypes.ToName(t.DType));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(t.Begin);
                w.WriteNumberValue(t.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }

        int jsonLen = (int)ms.Length;
        int padded = (jsonLen + 7) / 8 * 8;
        var result = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        ms.GetBuffer().AsSpan(0, jsonLen).CopyTo(result.AsSpan(8));
        result.AsSpan(8 + jsonLen).Fill((byte)' ');
        return result;
    }
}
