using QstOrleans.Model.Backbone;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Generation;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Engine;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Generation;

/// <summary>
/// The tiny engine Llama (loud LM head, so logits are spread and greedy choices are not near-ties) as a QST
/// model whose side weights are perturbed away from init (noise on every parameter, merge gate at 50/50),
/// so the side path visibly changes the logits. fp32 (dense fp32 backbone) or NF4 backbone + bf16 compute.
/// </summary>
internal static class GenerationFixtures
{
    public static QstModel Build(bool nf4)
    {
        var options = new ModelBuildOptions(TrainingMethod.Qst, TinyLlama.Qst, nf4 ? Precision.BFloat16 : Precision.Float32,
            BackboneFormat: nf4 ? WeightFormat.Nf4 : WeightFormat.Float32, Seed: 21,
            // Same NF4 numbers, dequantized once instead of per call: keeps the many-step tests fast.
            CacheDequantized: nf4);
        var model = (QstModel)ModelBuilder.Build(TinyLlama.TrainingDirectory, TinyLlama.Config, options);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var g = new TorchSharp.torch.Generator(99);
        foreach (var (_, p) in model.Side.named_parameters())
            p.add_(randn(p.shape, generator: g).to(p.dtype) * 0.3);
        foreach (var (name, b) in model.Side.named_buffers())
            if (name == "lm_head_z") b.fill_(0.0);   // σ(0) = 0.5: half of f comes from the side path
        return model;
    }

    public static GenerationModel For(QstModel model, bool qst) =>
        new([model.Backbone], model.LmHead, qst ? model.Side : null);

    /// <summary>
    /// The uncached reference: the trainer's full forward over the whole sequence (QstModel.Logits for QST,
    /// stage + head for the plain backbone), last row. A code path that never touches a KV cache.
    /// </summary>
    public static float[] FullForwardLastLogits(QstModel model, bool qst, IReadOnlyList<long> sequence)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var ids = tensor(sequence.ToArray(), [1, sequence.Count]);
        var mask = ones(1, sequence.Count, dtype: ScalarType.Int64);
        Tensor logits;                                                                  // [1, T, V]
        if (qst)
        {
            logits = model.Logits(ids, mask);
        }
        else
        {
            using var context = AttentionContext.Create(mask);
            using var output = model.Backbone.Forward(ids, context, collectTaps: false);
            logits = model.LmHead.Forward(output.FinalNormed!);
        }
        return TensorCheck.ToFloats(logits[0, sequence.Count - 1]);
    }

    public static int ArgMax(float[] row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    /// <summary>Greedy decoding by recomputing the whole prefix every step; returns the tokens and each step's logits.</summary>
    public static (List<int> Tokens, List<float[]> Logits) UncachedGreedy(QstModel model, bool qst, long[] prompt, int steps)
    {
        var sequence = prompt.ToList();
        var tokens = new List<int>();
        var rows = new List<float[]>();
        for (int s = 0; s < steps; s++)
        {
            var row = FullForwardLastLogits(model, qst, sequence);
            rows.Add(row);
            int next = ArgMax(row);
            tokens.Add(next);
            sequence.Add(next);
        }
        return (tokens, rows);
    }
}
