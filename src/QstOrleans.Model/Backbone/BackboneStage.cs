using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QstOrleans.Model.Backbone;

/// <summary>
/// A contiguous range [First, End) of decoder layers, plus the token embedding on the first stage and
/// the final norm on the last. Under QST it runs inside <c>no_grad</c> and nothing requires grad, so no
/// autograd graph is built. Any split of a model into stages yields the same taps as the whole model,
/// because each stage applies exactly the layers it owns to the previous stage's hidden state.
/// </summary>
public sealed class BackboneStage : nn.Module
{
    static readonly Scalar OptPositionOffset = ModelConfig.OptPositionOffset;

    readonly ModelConfig _config;
    // Names as registered, so Module.to(device) re-points these fields at the moved tensors.
    [ComponentName(Name = "embed_tokens")] readonly Parameter? _embedding;      // [V, E] (first stage)
    [ComponentName(Name = "embed_positions")] readonly Parameter? _positions;   // OPT: [max_pos + 2, H] (first stage)
    readonly nn.Module<Tensor, Tensor>? _projectIn, _projectOut;   // OPT when E != H
    readonly ModuleList<DecoderLayer> _layers;
    readonly nn.Module<Tensor, Tensor>? _finalNorm;                // last stage
    readonly ScalarType _accumulate;                               // residual stream dtype (fp32)

    internal BackboneStage(ModelConfig config, int first, int end, Parameter? embedding, Parameter? positions,
        nn.Module<Tensor, Tensor>? projectIn, IList<DecoderLayer> layers, nn.Module<Tensor, Tensor>? finalNorm,
        nn.Module<Tensor, Tensor>? projectOut, Precision precision) : base($"backbone_{first}_{end}")
    {
        _config = config;
        _accumulate = precision.Accumulate;
        First = first;
        End = end;
        _embedding = embedding;
        _positions = positions;
        _projectIn = projectIn;
        _projectOut = projectOut;
        _finalNorm = finalNorm;
        _layers = new ModuleList<DecoderLayer>(layers.ToArray());
        if (embedding is not null) register_parameter("embed_tokens", embedding);
        if (positions is not null) register_parameter("embed_positions", positions);
        if (projectIn is not null) register_module("project_in", projectIn);
        register_module("layers", _layers);
        if (finalNorm is not null) register_module("norm", finalNorm);
        if (projectOut is not null) register_module("project_out", projectOut);
    }

    public ModelConfig Config => _config;
    public int First { get; }
    public int End { get; }
    public bool IsFirst => First == 0;
    public bool IsLast => End == _config.NumLayers;
    /// <summary>Number of decoder layers in this stage (End − First).</summary>
    public int LayerCount => End - First;
    /// <summary>The embedding matrix [V, E] (first stage), e.g. for a tied LM head.</summary>
    public Tensor? EmbeddingWeight => _embedding;

    /// <summary>Recompute each layer's forward in backward instead of keeping its activations (baselines that train
    /// through the backbone; see <see cref="LayerCheckpoint"/>). Only full-sequence forwards with grad enabled are
    /// affected; the context passed to <see cref="Forward"/> must then stay alive until backward has run.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <param name="input">First stage: token ids [B, T] int64. Later stages: the previous stage's hidden [B, T, H] fp32.</param>
    /// <param name="context">Mask and positions of this micro-batch.</param>
    /// <param name="collectTaps">false keeps only the last hidden state (baselines, logits-only runs).</param>
    /// <param name="caches">Incremental decoding: one KV cache per layer of this stage (see <see cref="DecoderLayer.Forward"/>).</param>
    public StageOutput Forward(Tensor input, AttentionContext context, bool collectTaps = true, IReadOnlyList<KvCache>? caches = null)
    {
        if (caches is not null && caches.Count != LayerCount)
            throw new ArgumentException($"stage [{First}, {End}) has {LayerCount} layers but got {caches.Count} KV caches");
        var taps = new List<Tensor>();
        using var scope = NewDisposeScope();
        var h = IsFirst ? Embed(input, context) : input.to(_accumulate);       // [B, T, H]
        if (IsFirst && collectTaps) taps.Add(h);
        for (int i = 0; i < _layers.Count; i++)
        {
            h = GradientCheckpointing && caches is null
                ? LayerCheckpoint.Forward(_layers[i], h, context)                       // [B, T, H], recomputed in backward
                : _layers[i].Forward(h, context, caches?[i]);                           // [B, T, H]
            if (collectTaps) taps.Add(h);
        }
        if (!collectTaps || taps.Count == 0) taps.Add(h);
        Tensor? finalNormed = null;
        if (IsLast && _finalNorm is not null)
        {
            finalNormed = _finalNorm.forward(h);                                       // [B, T, H] fp32
            if (_projectOut is not null) finalNormed = _projectOut.forward(finalNormed.to(_accumulate)).to(_accumulate);
        }
        foreach (var t in taps) t.MoveToOuterDisposeScope();
        finalNormed?.MoveToOuterDisposeScope();
        return new StageOutput(taps, finalNormed);
    }

    Tensor Embed(Tensor ids, AttentionContext context)
    {
        var e = _embedding![ids].to(_accumulate);                               // [B, T, E]
        if (_projectIn is not null) e = _projectIn.forward(e).to(_accumulate);  // [B, T, H]
        if (_positions is not null)
        {
            // OPT: learned positions, offset by 2 rows. With right padding the real tokens' positions equal
            // HF's cumsum(mask) − 1; padded positions differ but no real token attends to them.
            var pos = context.Positions.PlusScalar(OptPositionOffset);
            e = e.Plus(_positions[pos].to(_accumulate));
        }
        return e;
    }
}
