using QstOrleans.Model.Backbone;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// The OPT backbone (pre-norm, learned positions offset by 2, q scaled by 1/√D after its bias, ReLU MLP,
/// biases everywhere, tied LM head) against an OPT forward written out here in float64 from the HF
/// definition, on the same random weights.
/// </summary>
public sealed class OptReferenceTests
{
    static readonly ModelConfig Opt = new()
    {
        Architecture = ModelArchitecture.Opt, Name = "tiny-opt", VocabSize = 80, HiddenSize = 32, IntermediateSize = 64,
        NumLayers = 2, NumHeads = 4, NumKeyValueHeads = 4, HeadDim = 8, MaxPositionEmbeddings = 32, TieWordEmbeddings = true,
        WordEmbedProjDim = 32, EnableBias = true, HiddenAct = "relu", NormEps = 1e-5, BosTokenId = 2, EosTokenId = 2, PadTokenId = 1,
    };

    [Fact]
    public void OptLogitsMatchDoubleReference()
    {
        using var dir = new TestDirectory();
        RandomModelWriter.Write(dir.Path, Opt, seed: 9);
        var config = ModelConfig.Load(dir.Path);
        Assert.Equal(ModelArchitecture.Opt, config.Architecture);
        long[] ids = [2, 17, 40, 5, 63, 11, 29];
        int t = ids.Length, h = Opt.HiddenSize;

        var w = RawSafetensors.ReadAll(System.IO.Path.Combine(dir.Path, "model.safetensors"));
        double[] Get(string name) => w[name].Data;
        // Reference forward, [T, H] row-major.
        var x = new double[t * h];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < h; j++)
                x[i * h + j] = Get("model.decoder.embed_tokens.weight")[ids[i] * h + j] + Get("model.decoder.embed_positions.weight")[(i + 2) * h + j];
        for (int l = 0; l < Opt.NumLayers; l++)
        {
            string p = $"model.decoder.layers.{l}.";
            var u = LlamaReference.LayerNorm(x, t, h, Get(p + "self_attn_layer_norm.weight"), Get(p + "self_attn_layer_norm.bias"), 1e-5);
            var q = LlamaReference.Linear(u, t, h, Get(p + "self_attn.q_proj.weight"), h, Get(p + "self_attn.q_proj.bias"));
            var k = LlamaReference.Linear(u, t, h, Get(p + "self_attn.k_proj.weight"), h, Get(p + "self_attn.k_proj.bias"));
            var v = LlamaReference.Linear(u, t, h, Get(p + "self_attn.v_proj.weight"), h, Get(p + "self_attn.v_proj.bias"));
            int nh = Opt.NumHeads, d = Opt.HeadDim;
            var mixed = new double[t * h];
            for (int hd = 0; hd < nh; hd++)
                for (int i = 0; i < t; i++)
                {
                    var s = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += q[i * h + hd * d + c] / Math.Sqrt(d) * k[j * h + hd * d + c];
                        s[j] = dot;
                    }
                    double max = s.Max(), z = s.Sum(e => Math.Exp(e - max));
                    for (int j = 0; j <= i; j++)
                        for (int c = 0; c < d; c++) mixed[i * h + hd * d + c] += Math.Exp(s[j] - max) / z * v[j * h + hd * d + c];
                }
            var attn = LlamaReference.Linear(mixed, t, h, Get(p + "self_attn.out_proj.weight"), h, Get(p + "self_attn.out_proj.bias"));
            for (int i = 0; i < x.Length; i++) x[i] += attn[i];
            var f = LlamaReference.LayerNorm(x, t, h, Get(p + "final_layer_norm.weight"), Get(p + "final_layer_norm.bias"), 1e-5);
            var hidden = LlamaReference.Linear(f, t, h, Get(p + "fc1.weight"), Opt.IntermediateSize, Get(p + "fc1.bias")).Select(e => Math.Max(0, e)).ToArray();
            var mlp = LlamaReference.Linear(hidden, t, Opt.IntermediateSize, Get(p + "fc2.weight"), h, Get(p + "fc2.bias"));
            for (int i = 0; i < x.Length; i++) x[i] += mlp[i];
        }
        var final = LlamaReference.LayerNorm(x, t, h, Get("model.decoder.final_layer_norm.weight"), Get("model.decoder.final_layer_norm.bias"), 1e-5);
        var expected = LlamaReference.Linear(final, t, h, Get("model.decoder.embed_tokens.weight"), Opt.VocabSize);   // tied head

        var options = new BackboneOptions(WeightFormat.Float32, Precision: Precision.Float32);
        using var stage = BackboneLoader.LoadAll(dir.Path, config, options);
        using var head = BackboneLoader.LoadLmHead(dir.Path, config, options);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = tensor(ids, [1, t]);
        using var context = AttentionContext.Create(ones_like(input));
        using var output = stage.Forward(input, context);
        var actual = TensorCheck.ToDoubles(head.Forward(output.FinalNormed!));
        double scale = TensorCheck.MaxAbs(expected);
        double error = TensorCheck.MaxAbsDiff(expected, actual);
        Assert.True(scale > 1e-3, "degenerate logits");
        Assert.True(error < 1e-5 * scale + 1e-7, $"OPT logits differ from the double reference by {error:E2} (max |logit| {scale:E2})");
        // And the taps: embedding + one per layer, as QST needs.
        Assert.Equal(Opt.NumLayers + 1, output.Taps.Count);
    }
}
