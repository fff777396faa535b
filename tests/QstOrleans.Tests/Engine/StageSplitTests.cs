using QstOrleans.Model.Backbone;
using QstOrleans.Model.Layers;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// Pipeline split invariance: running stages [0, 1) then [1, 2), feeding the first stage's hidden state
/// to the second, yields exactly (bitwise) the taps and ĥ of the whole model run as one stage.
/// </summary>
public sealed class StageSplitTests
{
    public static TheoryData<WeightFormat, string> Formats() => new()
    {
        { WeightFormat.Float32, "fp32" },
        { WeightFormat.Nf4, "fp32" },
        { WeightFormat.Nf4, "bf16" },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void SplitStagesGiveBitwiseIdenticalTaps(WeightFormat format, string compute)
    {
        var c = TinyLlama.Config;
        var options = new BackboneOptions(format, DoubleQuant: true, Precision.Parse(compute));
        const int b = 2, t = 9;
        var ids = TinyLlama.Tokens(b * t, seed: 11);
        var mask = Enumerable.Repeat(1L, b * t).ToArray();
        mask[b * t - 1] = 0;   // a padded position too
        using var scope = NewDisposeScope();
        using var whole = BackboneLoader.LoadAll(TinyLlama.Directory, c, options);
        using var first = BackboneLoader.LoadStage(TinyLlama.Directory, c, 0, 1, options);
        using var second = BackboneLoader.LoadStage(TinyLlama.Directory, c, 1, 2, options);
        Assert.True(first.IsFirst && !first.IsLast);
        Assert.True(!second.IsFirst && second.IsLast);

        using var ctx = AttentionContext.Create(tensor(mask, [b, t]));
        using var all = whole.Forward(tensor(ids, [b, t]), ctx);
        using var ctxA = AttentionContext.Create(tensor(mask, [b, t]));
        using var outA = first.Forward(tensor(ids, [b, t]), ctxA);
        using var ctxB = AttentionContext.Create(tensor(mask, [b, t]));
        using var outB = second.Forward(outA.Hidden, ctxB);

        Assert.Equal(3, all.Taps.Count);
        Assert.Equal(2, outA.Taps.Count);      // embedding + layer 0
        Assert.Single(outB.Taps);              // layer 1
        Assert.Null(outA.FinalNormed);
        var split = outA.Taps.Concat(outB.Taps).ToList();
        for (int i = 0; i < 3; i++) TensorCheck.AssertBitwiseEqual(all.Taps[i], split[i], $"tap {i} ({format}, {compute})");
        TensorCheck.AssertBitwiseEqual(all.FinalNormed!, outB.FinalNormed!, $"final norm ({format}, {compute})");
        // Taps are the fp32 residual stream whatever the matmul dtype.
        Assert.All(split, tap => Assert.Equal(ScalarType.Float32, tap.dtype));
    }
}
