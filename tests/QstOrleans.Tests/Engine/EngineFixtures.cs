using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Model.Qst;
using QstOrleans.Model.SafeTensors;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// The tiny random Llama every engine test uses: H = 64, I = 128, N = 2, n_h = 4, n_kv = 2 (GQA),
/// head dim 16, vocab 96, RoPE base 50000 (not 10000, so a backbone that ignored the config's base
/// would fail the reference test). Written once per test process. The RMSNorm weights are
/// randomised (RandomModelWriter writes ones), so a norm that forgot its weight would be caught.
/// </summary>
internal static class TinyLlama
{
    public static ModelConfig Config { get; } = new()
    {
        Name = "tiny-engine-test", VocabSize = 96, HiddenSize = 64, IntermediateSize = 128, NumLayers = 2,
        NumHeads = 4, NumKeyValueHeads = 2, HeadDim = 16, NormEps = 1e-5, RopeTheta = 50000.0,
        MaxPositionEmbeddings = 128, BosTokenId = 1, EosTokenId = 2, PadTokenId = 0,
    };

    /// <summary>r = 4 gives side width d = 16, side head dim 4, side MLP 32.</summary>
    public static QstConfig Qst { get; } = new() { R = 4 };

    static readonly Lazy<string> LazyDirectory = new(() => Create(null), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The model directory (config.json + model.safetensors, bf16).</summary>
    public static string Directory => LazyDirectory.Value;

    static readonly Lazy<string> LazyTrainingDirectory = new(() => Create(LoudHead), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// The same model with lm_head.weight scaled by 10 (std 0.2), for the training tests. With std 0.02 and
    /// RMS-normed inputs of width 64 the logits can barely exceed ±1.3 whatever the trainable part does
    /// (LoRA/QLoRA end behind the frozen final norm and head), so no method could fit a toy batch.
    /// </summary>
    public static string TrainingDirectory => LazyTrainingDirectory.Value;

    static Tensor? LoudHead(string name, Tensor t)
    {
        if (name != "lm_head.weight") return t;
        var loud = (t.to(ScalarType.Float32) * 10).to(ScalarType.BFloat16);
        t.Dispose();
        return loud;
    }

    static string Create(Func<string, Tensor, Tensor?>? edit)
    {
        string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "qst-engine-tiny-" + Guid.NewGuid().ToString("N"));
        Write(dir, Config, 1234, edit);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { System.IO.Directory.Delete(dir, recursive: true); } catch (IOException) { }
        };
        return dir;
    }

    /// <summary>RandomModelWriter's tensors, with every norm weight replaced by 1 + 0.2·N(0,1) (bf16).</summary>
    public static void Write(string dir, ModelConfig config, long seed, Func<string, Tensor, Tensor?>? edit = null)
    {
        System.IO.Directory.CreateDirectory(dir);
        config.Save(System.IO.Path.Combine(dir, "config.json"));
        using var g = new Generator(777);
        var tensors = new List<(string, Tensor)>();
        foreach (var (name, t) in RandomModelWriter.Tensors(config, seed))
        {
            var tensor = t;
            if (name.EndsWith("norm.weight", StringComparison.Ordinal))
            {
                tensor = (1 + 0.2 * randn(t.shape, generator: g)).to(ScalarType.BFloat16);
                t.Dispose();
            }
            if (edit is not null)
            {
                var edited = edit(name, tensor);
                if (edited is null) { tensor.Dispose(); continue; }
                tensor = edited;
            }
            tensors.Add((name, tensor));
        }
        ShardedCheckpointWriter.Write(dir, tensors, 2L << 30);
        foreach (var (_, t) in tensors) t.Dispose();
    }

    /// <summary>Deterministic token ids in [3, V).</summary>
    public static long[] Tokens(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (long)rng.Next(3, Config.VocabSize)).ToArray();
    }
}

/// <summary>
/// Reads a single-file safetensors checkpoint with nothing but the format definition (8-byte LE header
/// length, JSON header, raw LE data), independently of the engine's reader. BF16/F32 → double.
/// </summary>
internal static class RawSafetensors
{
    public sealed record Entry(long[] Shape, double[] Data);

    public static Dictionary<string, Entry> ReadAll(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        int dataStart = 8 + (int)headerLength;
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength));
        var result = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__") continue;
            string dtype = prop.Value.GetProperty("dtype").GetString()!;
            long[] shape = prop.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = prop.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            int begin = dataStart + (int)offsets[0], length = (int)(offsets[1] - offsets[0]);
            double[] data = dtype switch
            {
                // bf16 is the upper half of an fp32 bit pattern
                "BF16" => Enumerable.Range(0, length / 2)
                    .Select(i => (double)BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(begin + 2 * i, 2)) << 16))
                    .ToArray(),
                "F32" => Enumerable.Range(0, length / 4)
                    .Select(i => (double)BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(begin + 4 * i, 4))).ToArray(),
                _ => throw new NotSupportedException($"{path}: test reader does not handle {dtype} ({prop.Name})"),
            };
            result[prop.Name] = new Entry(shape, data);
        }
        return result;
    }
}

/// <summary>Small tensor helpers for comparisons.</summary>
internal static class TensorCheck
{
    public static double[] ToDoubles(Tensor t)
    {
        using var d = t.detach().to(ScalarType.Float64).contiguous().cpu();
        return d.data<double>().ToArray();
    }

    public static float[] ToFloats(Tensor t)
    {
        using var d = t.detach().contiguous();
        return d.data<float>().ToArray();
    }

    public static double MaxAbs(IEnumerable<double> v) => v.Select(Math.Abs).Max();

    public static double MaxAbsDiff(double[] a, double[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    /// <summary>Bitwise equality of two fp32 tensors (same shape, same bits).</summary>
    public static void AssertBitwiseEqual(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.dtype, actual.dtype);
        var a = ToFloats(expected);
        var b = ToFloats(actual);
        for (int i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i]))
                Assert.Fail($"{what}: element {i} differs ({a[i]:R} vs {b[i]:R})");
    }
}
