using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Qst;

/// <summary>
/// The trainable QST side network (spec §1): N downsample adapters (A_0 used twice, quirk Q5),
/// N ladder gates z_i, N side decoder layers at width d = H/r, the side norm, the upsample U: d → E
/// and the merge gate λ, feeding the frozen LM head:
/// <code>
/// s = A_0(tap_0)
/// for i in 0..N-1:  g = σ(z_i);  s = (1 − g) ⊙ A_i(tap_{i+1}) + g ⊙ s;  s = S_i(s)
/// f = (1 − σ(λ)) ⊙ U(norm_qst(s)) + σ(λ) ⊙ ĥ            (ĥ = final-normed backbone output)
/// logits = f · W_lmᵀ  (fp32)
/// </code>
/// Parameter names match the reference (<c>downsample.{i}.adapter_A.weight</c>, <c>z.{i}</c>,
/// <c>qst_layers.{i}.self_attn.q_proj.weight</c>, <c>norm_qst.weight</c>, <c>upsample.{weight,bias}</c>,
/// <c>lm_head_z</c>); <c>lm_head_z</c> is a parameter only with <see cref="QstConfig.TrainMergeGate"/>,
/// otherwise a saved buffer. This is the only module of a QST run with autograd.
/// </summary>
public sealed class QstSideNetwork : nn.Module
{
    readonly ModelConfig _model;
    readonly QstConfig _config;
    readonly ModuleList<DownsampleAdapter> _downsample = new();
    readonly ParameterList _z = new();
    readonly ModuleList<DecoderLayer> _layers = new();
    readonly nn.Module<Tensor, Tensor> _norm;
    readonly DenseLinear _upsample;
    // Named as registered, so Module.to(device) re-points the field at the moved tensor.
    [TorchSharp.Utils.ComponentName(Name = "lm_head_z")] readonly Tensor _lmHeadZ;   // [E] fp32: Parameter when trained, buffer otherwise
    readonly ScalarType _gateStorage;
    readonly ScalarType _compute, _accumulate;

    /// <param name="seed">Seeds the init of every parameter (recorded in checkpoints).</param>
    public QstSideNetwork(ModelConfig model, QstConfig config, Precision precision, long seed) : base("qst_side_network")
    {
        config.Validate(model);
        _model = model;
        _config = config;
        var shape = config.SideShape(model);
        int d = shape.Hidden, e = QstConfig.OutputWidth(model);
        using var generator = new Generator((ulong)seed);
        var linear = SideParameters.Factory(config, precision, generator);
        _compute = precision.Compute;
        _accumulate = precision.Accumulate;
        _gateStorage = config.Fp32MasterWeights ? ScalarType.Float32 : precision.Compute;

        for (int i = 0; i < model.NumLayers; i++)
            _downsample.Add(new DownsampleAdapter(model.HiddenSize, config.AdapterBottleneck, d, config, precision, generator));
        for (int i = 0; i < model.NumLayers; i++)
            _z.Add(new Parameter(full(d, config.GateInit, dtype: _gateStorage)));
        for (int i = 0; i < model.NumLayers; i++)
        {
            _layers.Add(model.Architecture == ModelArchitecture.Opt
                ? new OptDecoderLayer(shape, linear, _ => LayerNorm32.Identity(d, 1e-5, trainable: true), precision)
                : new LlamaDecoderLayer(shape, linear, _ => RmsNorm.Ones(d, shape.NormEps, trainable: true), precision));
        }
        _norm = model.Architecture == ModelArchitecture.Opt
            ? LayerNorm32.Identity(d, 1e-5, trainable: true)
            : RmsNorm.Ones(d, shape.NormEps, trainable: true);
        _upsample = SideParameters.Linear(e, d, bias: true, config, precision, generator);

        register_module("downsample", _downsample);
        register_module("z", _z);
        register_module("qst_layers", _layers);
        register_module("norm_qst", _norm);
        register_module("upsample", _upsample);
        var lambda = full(e, config.MergeGateInit, dtype: ScalarType.Float32);
        if (config.TrainMergeGate)
        {
            _lmHeadZ = new Parameter(lambda);
            register_parameter("lm_head_z", (Parameter)_lmHeadZ);
        }
        else
        {
            _lmHeadZ = lambda;
            register_buffer("lm_head_z", _lmHeadZ);
        }
    }

    public ModelConfig Model => _model;
    public QstConfig Config => _config;

    /// <summary>Number of trainable elements (the figures of spec §2).</summary>
    public long TrainableParameterCount => parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    /// <param name="taps">N+1 frozen states [B, T, H]: the embedding output, then every layer's output.</param>
    /// <param name="finalNormed">ĥ [B, T, E]: the backbone's final-normed output (OPT: after project_out).</param>
    /// <param name="caches">Incremental decoding: one KV cache per side layer (spec §8: a second cache next to the backbone's).</param>
    /// <returns>f [B, T, E] fp32, the merged state the LM head reads.</returns>
    public Tensor Forward(IReadOnlyList<Tensor> taps, Tensor finalNormed, AttentionContext context, IReadOnlyList<KvCache>? caches = null)
    {
        if (caches is not null && caches.Count != _model.NumLayers)
            throw new ArgumentException($"the side network has {_model.NumLayers} layers but got {caches.Count} KV caches");
        if (taps.Count != _model.NumLayers + 1)
            throw new ArgumentException($"the side network needs {_model.NumLayers + 1} taps (embedding + {_model.NumLayers} layers), got {taps.Count}");
        using var scope = NewDisposeScope();
        var s = _downsample[0].forward(taps[0]);                                        // [B, T, d]
        for (int i = 0; i < _model.NumLayers; i++)
        {
            var g = _z[i].to(_accumulate).sigmoid();                            // [d]
            s = (1 - g) * _downsample[i].forward(taps[i + 1]) + g * s;                 // ladder gate
            s = _layers[i].Forward(s, context, caches?[i]);
        }
        var up = _upsample.forward(_norm.forward(s).to(_compute)).to(_accumulate);  // [B, T, E]
        var a = _lmHeadZ.to(_accumulate).sigmoid();                                                     // [E]
        var f = _config.ReversedMergeGate
            ? a * up + (1 - a) * finalNormed.to(_accumulate)
            : (1 - a) * up + a * finalNormed.to(_accumulate);
        return f.MoveToOuterDisposeScope();
    }
}
