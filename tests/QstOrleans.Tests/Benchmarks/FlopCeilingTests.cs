using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Model.Config;

namespace QstOrleans.Tests.Benchmarks;

/// <summary>The FLOP ceiling against the figures issue 14 worked out separately, and the memory model's levers by hand.</summary>
public sealed class FlopCeilingTests
{
    [Fact]
    public void CeilingsMatchTheIssuesIndependentFigures()
    {
        // Issue 14: "FLOP ceiling at 134M: 1.66× without recompute, 2.29× with it" (batch 4 × 128); "≈ 2.8× at the 1B shape" with recompute.
        // Those were counted for a plain loss (one head matmul in backward); within 2 %.
        var m134 = ModelPresets.Get("llama-134m");
        Assert.InRange(FlopCeiling.VersusQst(m134, "qlora", false, 128, headRecompute: false), 1.66 * 0.98, 1.66 * 1.02);
        Assert.InRange(FlopCeiling.VersusQst(m134, "qlora", true, 128, headRecompute: false), 2.29 * 0.98, 2.29 * 1.02);
        Assert.InRange(FlopCeiling.VersusQst(ModelPresets.Get("llama-1b"), "qlora", true, 256, headRecompute: false), 2.8 * 0.97, 2.8 * 1.03);
        // The chunked loss's recompute costs every method one head matmul, which lowers the ratio (the head is ~1/5 of QST's FLOPs at 134M).
        Assert.True(FlopCeiling.VersusQst(m134, "qlora", false, 128) < FlopCeiling.VersusQst(m134, "qlora", false, 128, headRecompute: false));
        // Full fine-tuning adds weight gradients (one more backbone pass) to LoRA's.
        Assert.True(FlopCeiling.VersusQst(m134, "full", false, 128) > FlopCeiling.VersusQst(m134, "lora", false, 128) + 0.5);
        Assert.Throws<ArgumentException>(() => FlopCeiling.PerToken(m134, "qst", true, 128));
    }

    [Fact]
    public void BackboneForwardFlopsAddUpByHandOnAToyShape()
    {
        // H 4, I 8, 1 layer, 2 heads of 2, vocab 6, T 3; linears 160 params → L = 320, A = 4·3·4 = 48, head 2·6·4 = 48.
        var toy = new ModelConfig { Name = "toy", VocabSize = 6, HiddenSize = 4, IntermediateSize = 8, NumLayers = 1, NumHeads = 2, NumKeyValueHeads = 2, HeadDim = 2 };
        // full: forward 320 + 48 + 48, backward 320 + 96 + 96 (head recomputed, then its input gradient), weight gradients 320 + 48 = 1296;
        // +gc adds 320 + 48; a plain loss drops one head matmul (48).
        Assert.Equal(1296, FlopCeiling.PerToken(toy, "full", false, 3));
        Assert.Equal(1296 + 368, FlopCeiling.PerToken(toy, "full", true, 3));
        Assert.Equal(1296 - 48, FlopCeiling.PerToken(toy, "full", false, 3, headRecompute: false));
    }

    [Fact]
    public void MemoryModelLeversAddUpByHandOnAToyShape()
    {
        var toy = new ModelConfig { Name = "toy", VocabSize = 6, HiddenSize = 4, IntermediateSize = 8, NumLayers = 1, NumHeads = 2, NumKeyValueHeads = 2, HeadDim = 2 };
        var e = MemoryModel.Estimate(toy, BenchMethod.QLora, batch: 2, sequence: 3, loraRank: 2, engine: new EngineLevers(2, KeepDequantized: false, GradientCheckpointing: true));
        // 6 tokens. Layers: fp32 inputs kept 1·4·4·6 = 96 + one layer recomputed 180·6 = 1080; ends 32·6 = 192;
        // head in chunks of 2 tokens: 16·6·2 = 192; one decode buffer per weight shape (4×4, 8×4, 4×8): 2·80 = 160.
        Assert.Equal(96 + 1080 + 192 + 192 + 160, e.Activations);
        // No levers: the plain engine's figure (MemoryModelTests): 1848 + 320.
        Assert.Equal(1848 + 320, MemoryModel.Estimate(toy, BenchMethod.QLora, 2, 3, loraRank: 2).Activations);
    }
}
