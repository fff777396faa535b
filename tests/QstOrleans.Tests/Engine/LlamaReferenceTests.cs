using QstOrleans.Model.Backbone;
using QstOrleans.Model.Layers;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// The fp32 backbone against <see cref="LlamaReference"/>, a loop-by-loop double-precision Llama that
/// reads the same bf16 weights straight from model.safetensors (own parser).
/// </summary>
public sealed class LlamaReferenceTests(ITestOutputHelper output)
{
    const int Batch = 2, Length = 10;
    static readonly BackboneOptions Fp32 = new(WeightFormat.Float32, false, Precision.Float32);

    static Dictionary<string, RawSafetensors.Entry> Weights() =>
        RawSafetensors.ReadAll(Path.Combine(TinyLlama.Directory, "model.safetensors"));

    /// <summary>Row b of a [B, T, X] tensor as doubles.</summary>
    static double[] Row(Tensor t, int b)
    {
        using var row = t[b];
        return TensorCheck.ToDoubles(row);
    }

    [Fact]
    public void OneDecoderLayerMatchesDoubleReference()
    {
        var c = TinyLlama.Config;
        var w = Weights();
        var ids = TinyLlama.Tokens(Batch * Length, seed: 1);
        using var scope = NewDisposeScope();
        using var stage = BackboneLoader.LoadStage(TinyLlama.Directory, c, 0, 1, Fp32);
        using var ctx = AttentionContext.Create(ones(Batch, Length, dtype: ScalarType.Int64));
        using var outp = stage.Forward(tensor(ids, [Batch, Length]), ctx);
        Assert.Equal(2, outp.Taps.Count);
        Assert.Null(outp.FinalNormed);

        var keep = Enumerable.Repeat(true, Length).ToArray();
        var layer0 = RefLayer.From(n => w[n].Data, "model.layers.0.", c.HiddenSize, c.IntermediateSize,
            c.NumHeads, c.NumKeyValueHeads, c.HeadDim, c.NormEps, c.RopeTheta);
        for (int b = 0; b < Batch; b++)
        {
            var embed = new double[Length * c.HiddenSize];
            for (int i = 0; i < Length; i++)
                Array.Copy(w["model.embed_tokens.weight"].Data, ids[b * Length + i] * c.HiddenSize, embed, i * c.HiddenSize, c.HiddenSize);
            // The embedding tap is an exact bf16 → fp32 copy.
            Assert.Equal(0.0, TensorCheck.MaxAbsDiff(embed, Row(outp.Taps[0], b)));

            var expected = LlamaReference.Layer(embed, Length, keep, layer0);
            double err = TensorCheck.MaxAbsDiff(expected, Row(outp.Taps[1], b));
            double scale = TensorCheck.MaxAbs(expected);
            output.WriteLine($"layer 0, row {b}: max |err| = {err:E3}, max |h| = {scale:E3}, rel = {err / scale:E3}");
            Assert.True(err < 1e-5 * scale, $"layer 0 output differs from the reference: {err:E3} (scale {scale:E3})");
        }
    }

    [Fact]
    public void WholeModelTapsAndLogitsMatchDoubleReference()
    {
        var c = TinyLlama.Config;
        var w = Weights();
        var ids = TinyLlama.Tokens(Batch * Length, seed: 2);
        using var scope = NewDisposeScope();
        using var stage = BackboneLoader.LoadAll(TinyLlama.Directory, c, Fp32);
        using var head = BackboneLoader.LoadLmHead(TinyLlama.Directory, c, Fp32);
        using var ctx = AttentionContext.Create(ones(Batch, Length, dtype: ScalarType.Int64));
        using var outp = stage.Forward(tensor(ids, [Batch, Length]), ctx);
        using var logits = head.Forward(outp.FinalNormed!);
        Assert.Equal(new long[] { Batch, Length, c.VocabSize }, logits.shape);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        Assert.Equal(c.NumLayers + 1, outp.Taps.Count);

        var keep = Enumerable.Repeat(true, Length).ToArray();
        for (int b = 0; b < Batch; b++)
        {
            var (taps, normed, expected) = LlamaReference.Forward(w, c, ids.Skip(b * Length).Take(Length).ToArray(), keep);
            for (int i = 0; i < taps.Count; i++)
            {
                double tapErr = TensorCheck.MaxAbsDiff(taps[i], Row(outp.Taps[i], b));
                Assert.True(tapErr < 1e-5 * TensorCheck.MaxAbs(taps[i]), $"tap {i} row {b}: {tapErr:E3}");
            }
            double normErr = TensorCheck.MaxAbsDiff(normed, Row(outp.FinalNormed!, b));
            Assert.True(normErr < 1e-5 * TensorCheck.MaxAbs(normed), $"final norm row {b}: {normErr:E3}");

            double err = TensorCheck.MaxAbsDiff(expected, Row(logits, b));
            double scale = TensorCheck.MaxAbs(expected);
            output.WriteLine($"logits row {b}: max |err| = {err:E3}, max |logit| = {scale:E3}, rel = {err / scale:E3}");
            Assert.True(err < 1e-5 * scale, $"logits differ from the reference: {err:E3} (scale {scale:E3})");
        }
    }

    [Fact]
    public void PaddedBatchMatchesUnpaddedRunOnRealPositions()
    {
        var c = TinyLlama.Config;
        const int real = 7;
        var ids = TinyLlama.Tokens(Batch * Length, seed: 3);
        // Row 1 is right-padded: its last 3 positions are pad tokens with mask 0.
        var mask = Enumerable.Repeat(1L, Batch * Length).ToArray();
        for (int i = real; i < Length; i++)
        {
            mask[Length + i] = 0;
            ids[Length + i] = c.PadTokenId!.Value;
        }
        using var scope = NewDisposeScope();
        using var stage = BackboneLoader.LoadAll(TinyLlama.Directory, c, Fp32);
        using var head = BackboneLoader.LoadLmHead(TinyLlama.Directory, c, Fp32);

        using var ctx = AttentionContext.Create(tensor(mask, [Batch, Length]));
        using var padded = stage.Forward(tensor(ids, [Batch, Length]), ctx);
        using var paddedLogits = head.Forward(padded.FinalNormed!);

        var shortIds = ids.Skip(Length).Take(real).ToArray();
        using var ctx1 = AttentionContext.Create(ones(1, real, dtype: ScalarType.Int64));
        using var alone = stage.Forward(tensor(shortIds, [1, real]), ctx1);
        using var aloneLogits = head.Forward(alone.FinalNormed!);

        var got = Row(paddedLogits, 1).Take(real * c.VocabSize).ToArray();
        var want = Row(aloneLogits, 0);
        double err = TensorCheck.MaxAbsDiff(want, got);
        output.WriteLine($"padded vs unpadded real positions: max |err| = {err:E3}");
        Assert.True(err < 1e-5 * TensorCheck.MaxAbs(want), $"padding changed real positions' logits by {err:E3}");

        // And both agree with the double reference run with the padding mask.
        var keep = Enumerable.Range(0, Length).Select(i => i < real).ToArray();
        var (_, _, reference) = LlamaReference.Forward(Weights(), c, ids.Skip(Length).Take(Length).ToArray(), keep);
        double refErr = TensorCheck.MaxAbsDiff(reference.Take(real * c.VocabSize).ToArray(), got);
        Assert.True(refErr < 1e-4 * TensorCheck.MaxAbs(reference), $"padded row differs from the reference by {refErr:E3}");

        // Row 0 (no padding) is unaffected by row 1's padding.
        var (_, _, row0) = LlamaReference.Forward(Weights(), c, ids.Take(Length).ToArray(), Enumerable.Repeat(true, Length).ToArray());
        Assert.True(TensorCheck.MaxAbsDiff(row0, Row(paddedLogits, 0)) < 1e-4 * TensorCheck.MaxAbs(row0));
    }
}
