using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// Spec §2's published trainable-parameter figures (shape only), the formula vs a real side network, and the
/// Llama-2 7B/13B/70B side networks themselves, built on the meta device (no memory): every trainable parameter's
/// name and shape against the list of spec §1.7, written out here from the spec's dimension table (§0).
/// </summary>
public sealed class ParameterCountTests(Xunit.Abstractions.ITestOutputHelper output)
{
    static readonly Device Meta = device("meta");

    [Theory]
    // preset, side layers, downsample, z, norm_qst, upsample, total, total with trainable λ (spec §2 table)
    [InlineData("llama2-7b", 25_313_280L, 2_244_608L, 8_192L, 256L, 1_052_672L, 28_619_008L, 28_623_104L)]
    [InlineData("llama2-13b", 49_587_200L, 3_507_200L, 12_800L, 320L, 1_643_520L, 54_751_040L, 54_756_160L)]
    [InlineData("llama2-70b", 267_468_800L, 11_223_040L, 40_960L, 512L, 4_202_496L, 282_935_808L, 282_944_000L)]
    public void MatchesPublishedFigures(string preset, long sideLayers, long downsample, long gates, long sideNorm,
        long upsample, long total, long totalWithMergeGate)
    {
        var model = ModelPresets.Get(preset);
        var count = QstParameterCount.Of(model, new QstConfig());
        Assert.Equal(sideLayers, count.SideLayers);
        Assert.Equal(downsample, count.Downsample);
        Assert.Equal(gates, count.Gates);
        Assert.Equal(sideNorm, count.SideNorm);
        Assert.Equal(upsample, count.Upsample);
        Assert.Equal(0, count.MergeGate);
        Assert.Equal(total, count.Total);
        Assert.Equal(totalWithMergeGate, QstParameterCount.Of(model, new QstConfig { TrainMergeGate = true }).Total);
    }

    [Fact]
    public void TinyFormulaByHand()
    {
        // d = 16, n_kv·d_h = 8, I_s = 32, H = 64, p = 16, N = 2:
        // side = 2·256 + 2·16·8 + 3·16·32 + 2·16 = 2336; down = 64·16 + 16·16 + 2·16 = 1312; gate = 16
        // total = 2·(2336 + 1312 + 16) + 16 + 16·64 + 64 = 8432
        Assert.Equal(8432, QstParameterCount.Of(TinyLlama.Config, TinyLlama.Qst).Total);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void FormulaEqualsConstructedSideNetwork(bool trainMergeGate, bool normBeforeAdapter)
    {
        var qst = TinyLlama.Qst with { TrainMergeGate = trainMergeGate, LayerNormBeforeAdapter = normBeforeAdapter };
        using var side = new QstSideNetwork(TinyLlama.Config, qst, Precision.Float32, seed: 0);
        Assert.Equal(QstParameterCount.Of(TinyLlama.Config, qst).Total, side.TrainableParameterCount);
    }

    [Theory]
    // preset, H, N, n_kv, d, I_s from the spec's §0 table (p = 16, d_h = 8), and the §2 total
    [InlineData("llama2-7b", 4096, 32, 32, 256, 688, 28_619_008L)]
    [InlineData("llama2-13b", 5120, 40, 40, 320, 864, 54_751_040L)]
    [InlineData("llama2-70b", 8192, 80, 8, 512, 1792, 282_935_808L)]
    public void MetaDeviceSideNetworkHasTheSpecParameters(string preset, int h, int n, int nKv, int d, int iS, long total)
    {
        var expected = SpecParameters(h, n, kvOut: nKv * 8, d, iS, p: 16);
        Assert.Equal(total, expected.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b)));   // the list itself adds up to §2

        // Warm up first: the first tensor of the process loads libtorch's kernels (≈60 MiB), which is not this network.
        using (new QstSideNetwork(TinyLlama.Config, TinyLlama.Qst, Precision.BFloat16, seed: 0, device: Meta)) { }
        long rssBefore = AnonymousRss();
        using var side = new QstSideNetwork(ModelPresets.Get(preset), new QstConfig(), Precision.BFloat16, seed: 0, device: Meta);
        long grown = AnonymousRss() - rssBefore;
        output.WriteLine($"{preset}: {side.TrainableParameterCount:N0} trainable parameters on meta " +
                         $"({side.TrainableParameterCount * 4 >> 20} MiB in fp32); anonymous RSS grew by {grown >> 10} KiB");

        var actual = side.named_parameters().Where(x => x.parameter.requires_grad)
            .ToDictionary(x => x.name, x => x.parameter.shape);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, shape) in expected)
            Assert.True(shape.SequenceEqual(actual[name]), $"{name}: [{string.Join(", ", actual[name])}], spec says [{string.Join(", ", shape)}]");
        Assert.Equal(total, side.TrainableParameterCount);
        // The merge gate λ [H] is a saved buffer, not trained, by default (spec §1.5).
        Assert.Equal(new long[] { h }, side.named_buffers().Single(x => x.name == "lm_head_z").buffer.shape);

        // Nothing was allocated: every tensor is on the meta device, and the process did not grow by the fp32 network
        // (109 MiB for 7B, 1079 MiB for 70B) but by module bookkeeping only (measured: 0 to 1.4 MiB).
        Assert.All(side.parameters().Concat(side.buffers()), t => Assert.Equal(DeviceType.META, t.device_type));
        if (rssBefore > 0) Assert.True(grown < 16L << 20, $"anonymous RSS grew by {grown >> 20} MiB building on meta");
    }

    [Fact]
    public void MetaDeviceMergeGateIsAParameterWhenTrained()
    {
        using var side = new QstSideNetwork(ModelPresets.Get("llama2-7b"), new QstConfig { TrainMergeGate = true }, Precision.BFloat16, seed: 0, device: Meta);
        Assert.Equal(new long[] { 4096 }, side.named_parameters().Single(x => x.name == "lm_head_z").parameter.shape);
        Assert.Equal(28_623_104L, side.TrainableParameterCount);
    }

    /// <summary>Spec §1.7: name → shape of every trainable parameter of a Llama side network with the defaults.</summary>
    static Dictionary<string, long[]> SpecParameters(long h, int n, long kvOut, long d, long iS, long p)
    {
        var expected = new Dictionary<string, long[]>
        {
            ["norm_qst.weight"] = [d],
            ["upsample.weight"] = [h, d],
            ["upsample.bias"] = [h],
        };
        for (int i = 0; i < n; i++)
        {
            expected[$"downsample.{i}.adapter_A.weight"] = [p, h];
            expected[$"downsample.{i}.adapter_B.weight"] = [d, p];
            expected[$"downsample.{i}.post_layer_norm.weight"] = [d];
            expected[$"downsample.{i}.post_layer_norm.bias"] = [d];
            expected[$"z.{i}"] = [d];
            string layer = $"qst_layers.{i}";
            expected[$"{layer}.self_attn.q_proj.weight"] = [d, d];
            expected[$"{layer}.self_attn.k_proj.weight"] = [kvOut, d];
            expected[$"{layer}.self_attn.v_proj.weight"] = [kvOut, d];
            expected[$"{layer}.self_attn.o_proj.weight"] = [d, d];
            expected[$"{layer}.mlp.gate_proj.weight"] = [iS, d];
            expected[$"{layer}.mlp.up_proj.weight"] = [iS, d];
            expected[$"{layer}.mlp.down_proj.weight"] = [d, iS];
            expected[$"{layer}.input_layernorm.weight"] = [d];
            expected[$"{layer}.post_attention_layernorm.weight"] = [d];
        }
        return expected;
    }

    /// <summary>RssAnon of this process in bytes (Linux), 0 where /proc is missing.</summary>
    static long AnonymousRss()
    {
        if (!File.Exists("/proc/self/status")) return 0;
        GC.Collect();
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("RssAnon:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}
