using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Model.Config;

namespace QstOrleans.Tests.Benchmarks;

/// <summary>The analytic memory model against published figures (spec §9.6, style anchors) and hand-worked small shapes.</summary>
public sealed class MemoryModelTests
{
    // H 4, I 8, 1 layer, 2 heads of 2, vocab 6: small enough to add up by hand.
    static readonly ModelConfig Toy = new()
    {
        Name = "toy", VocabSize = 6, HiddenSize = 4, IntermediateSize = 8, NumLayers = 1, NumHeads = 2, NumKeyValueHeads = 2, HeadDim = 2,
    };

    [Fact]
    public void Nf4WithDoubleQuantIs4127BitsPerParameter()
    {
        Assert.Equal(4.126953, MemoryModel.Nf4BytesPerParameter(true) * 8, 6);   // spec §9.6
        Assert.Equal(4.5, MemoryModel.Nf4BytesPerParameter(false) * 8, 12);
    }

    [Fact]
    public void Llama2_70BLinearsMatchTheSpecTable()
    {
        var c = ModelPresets.Get("llama2-70b");
        long linears = c.NumLayers * MemoryModel.LayerLinearParameters(c);
        Assert.InRange(linears / 1e9, 68.44, 68.46);                                                  // 68.45 B
        Assert.InRange(linears * MemoryModel.Nf4BytesPerParameter(true) / 1e9, 35.25, 35.35);          // 35.3 GB
        Assert.InRange(linears * MemoryModel.Nf4BytesPerParameter(false) / 1e9, 38.45, 38.55);         // 38.5 GB
    }

    [Fact]
    public void QstOptimizerStateIsEightBytesPerPublishedTrainableParameter()
    {
        var e = MemoryModel.Estimate(ModelPresets.Get("llama2-7b"), BenchMethod.Qst, 1, 512);
        Assert.Equal(8.0 * 28_619_008, e.Optimizer);     // trainable count from the reference shapes
        Assert.Equal(4.0 * 28_619_008, e.Gradients);
    }

    [Fact]
    public void FullFineTuningOnAToyShapeAddsUpByHand()
    {
        var e = MemoryModel.Estimate(Toy, BenchMethod.Full, batch: 2, sequence: 3);
        // params: linears 2·4·4 + 2·4·4 + 3·4·8 = 160, norms 3·4 = 12, embedding + head 2·6·4 = 48 → 220, all fp32 and trainable
        Assert.Equal(880, e.Weights);
        Assert.Equal(880, e.Gradients);
        Assert.Equal(1760, e.Optimizer);
        // per token: layer 12·4 + 8·4 + 8·8 + 6·2·3 = 180; ends 8·4 = 32; head 16·6 = 96 → 308 × 6 tokens = 1848
        // plus bf16 casts of the linears and the head saved for backward: 2·(160 + 24) = 368
        Assert.Equal(1848 + 368, e.Activations);
        Assert.Equal(880 + 880 + 1760 + 2216, e.Total);
    }

    [Fact]
    public void QLoraOnAToyShapeAddsUpByHand()
    {
        var e = MemoryModel.Estimate(Toy, BenchMethod.QLora, batch: 2, sequence: 3, loraRank: 2);
        // LoRA r·(in + out): q 8, k 8, v 8, o 8, gate 12, up 12, down 12 = 68 → 136 parameters
        double nf4 = 0.5 + 1.0 / 64 + 4.0 / 16384;
        Assert.Equal(160 * nf4 + 2 * (48 + 12) + 4 * 136, e.Weights, 9);
        Assert.Equal(8 * 136, e.Optimizer);
        // 1848 per-token bytes as for full, plus the dequantized bf16 linears autograd keeps: 2·160
        Assert.Equal(1848 + 320, e.Activations);
    }

    [Fact]
    public void MethodsOrderAsThePaperSaysAt70B()
    {
        var c = ModelPresets.Get("llama2-70b");
        double Total(BenchMethod m) => MemoryModel.Estimate(c, m, 1, 1024).Total;
        Assert.True(Total(BenchMethod.Qst) < Total(BenchMethod.Lst));
        Assert.True(Total(BenchMethod.Lst) < Total(BenchMethod.QLora));
        Assert.True(Total(BenchMethod.QLora) < Total(BenchMethod.Full));
    }

    [Fact]
    public void OptShapesAreRejected()
    {
        var opt = Toy with { Architecture = ModelArchitecture.Opt, WordEmbedProjDim = 4 };
        Assert.Throws<NotSupportedException>(() => MemoryModel.Estimate(opt, BenchMethod.Qst, 1, 4));
    }
}
