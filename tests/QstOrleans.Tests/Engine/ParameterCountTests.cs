using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;

namespace QstOrleans.Tests.Engine;

/// <summary>Spec §2's published trainable-parameter figures (shape only), and the formula vs a real side network.</summary>
public sealed class ParameterCountTests
{
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
}
