using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Model.Generation;

/// <summary>
/// What the <see cref="TokenGenerator"/> decodes with: the frozen backbone (one or more stages covering layers
/// 0..N−1 in order), the QST side network (or none, for the plain pre-trained model) and the frozen LM head.
/// Does not own the modules.
/// </summary>
/// <remarks>
/// <para>Features: full-sequence forward (no cache) or an incremental forward over a
/// <see cref="GenerationCache"/> (backbone and side caches advanced together, same positions); only the
/// last position goes through the LM head. Everything runs under <c>no_grad</c>. Batch size 1 (no padding).</para>
/// <para>Throws <see cref="ArgumentException"/> for stages that do not cover the model in order, a side
/// network built for another model, or a step that would run past <c>max_position_embeddings</c>.</para>
/// </remarks>
public sealed class GenerationModel
{
    readonly IReadOnlyList<BackboneStage> _stages;

    public GenerationModel(IReadOnlyList<BackboneStage> stages, FrozenLmHead lmHead, QstSideNetwork? side = null)
    {
        if (stages.Count == 0) throw new ArgumentException("a generation model needs at least one backbone stage");
        int expected = 0;
        foreach (var s in stages)
        {
            if (s.First != expected)
                throw new ArgumentException($"backbone stages must cover the layers in order: expected a stage starting at layer {expected}, got [{s.First}, {s.End})");
            expected = s.End;
        }
        Config = stages[0].Config;
        if (expected != Config.NumLayers)
            throw new ArgumentException($"backbone stages end at layer {expected}, the model has {Config.NumLayers}");
        if (side is not null && side.Model.NumLayers != Config.NumLayers)
            throw new ArgumentException($"the side network has {side.Model.NumLayers} layers, the backbone {Config.NumLayers}");
        _stages = stages;
        LmHead = lmHead;
        Side = side;
    }

    /// <summary>The QST model as trained (backbone + side network + head).</summary>
    public static GenerationModel From(QstModel model) => new([model.Backbone], model.LmHead, model.Side);

    public ModelConfig Config { get; }
    public QstSideNetwork? Side { get; }
    public FrozenLmHead LmHead { get; }
    public long VocabSize => LmHead.VocabSize;

    /// <param name="capacity">Positions to pre-allocate per layer (prompt + max new tokens).</param>
    public GenerationCache CreateCache(long capacity = 0) =>
        new(_stages.Select(s => s.LayerCount).ToArray(), Side is null ? 0 : Config.NumLayers, capacity);

    /// <summary>
    /// Runs the new tokens and returns the logits of the last one.
    /// </summary>
    /// <param name="ids">[1, T_new] int64: the whole sequence when <paramref name="cache"/> is null, else
    /// only the tokens after the <see cref="GenerationCache.Length"/> cached ones.</param>
    /// <returns>[1, V] fp32, created in the caller's dispose scope.</returns>
    public Tensor NextTokenLogits(Tensor ids, GenerationCache? cache)
    {
        if (ids.dim() != 2 || ids.shape[0] != 1)
            throw new ArgumentException($"generation takes ids [1, T], got [{string.Join(", ", ids.shape)}]");
        long past = cache?.Length ?? 0, t = ids.shape[1];
        if (past + t > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"{past + t} positions exceed the model's max_position_embeddings ({Config.MaxPositionEmbeddings})");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var context = cache is null
            ? AttentionContext.Create(ones_like(ids))
            : AttentionContext.ForCachedStep(1, past, t);
        bool taps = Side is not null;
        var outputs = new List<StageOutput>();
        try
        {
            Tensor input = ids;
            for (int i = 0; i < _stages.Count; i++)
            {
                var output = _stages[i].Forward(input, context, collectTaps: taps, caches: cache?.Backbone[i]);
                outputs.Add(output);
                input = output.Hidden;                                                    // [1, T, H]
            }
            var finalNormed = outputs[^1].FinalNormed!;                                   // [1, T, E]
            var f = Side is null
                ? finalNormed
                : Side.Forward(outputs.SelectMany(o => o.Taps).ToList(), finalNormed, context, cache?.Side);
            // Only the next token is needed: skip the [T, V] head matmul over the prompt.
            var last = f.narrow(1, t - 1, 1);                                             // [1, 1, E]
            var logits = LmHead.Forward(last).squeeze(1);                                 // [1, V] fp32
            if (cache is not null) cache.Length = past + t;
            return logits.MoveToOuterDisposeScope();
        }
        finally
        {
            foreach (var o in outputs) o.Dispose();
        }
    }
}
