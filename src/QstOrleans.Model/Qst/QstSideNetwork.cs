using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Qst;

/// <summary>
/// READ ME FIRST: the trainable QST side network (spec §1), and the whole QST forward in the order it runs.
/// H = backbone width, d = H/r side width, p = adapter bottleneck, E = LM-head input width (H; OPT: word_embed_proj_dim),
/// N = decoder layers, V = vocabulary.
/// <code>
/// // frozen, no autograd (Backbone/BackboneStage.cs; split over stage grains in the distributed run)
/// tap_0   = Embed[ids]                              // [B, T, H]
/// tap_i+1 = L_i(tap_i)          for i in 0..N-1     // [B, T, H]  every backbone layer's output is a tap
/// ĥ       = FinalNorm(tap_N)                        // [B, T, E]
/// // trainable: this class, top to bottom in <see cref="Forward"/>
/// s = A_0(tap_0)                                    // [B, T, d]  downsample adapter (A_0 is used twice, quirk Q5)
/// for i in 0..N-1:                                  //            the ladder
///     g = σ(z_i)                                    // [d]        ladder gate
///     s = (1 − g) ⊙ A_i(tap_i+1) + g ⊙ s            // [B, T, d]
///     s = S_i(s)                                    // [B, T, d]  side Llama/OPT decoder layer at width d
/// u = U(norm_qst(s))                                // [B, T, E]  side norm, upsample d → E
/// f = (1 − σ(λ)) ⊙ u + σ(λ) ⊙ ĥ                     // [B, T, E]  merge gate with the final hidden state
/// // frozen again (Layers/FrozenLmHead.cs)
/// logits = f · W_lmᵀ                                // [B, T, V]  fp32
/// </code>
/// The single-process trainer (Training/QstModel.cs) chains exactly these three pieces; the distributed run splits
/// the frozen part over stage grains and runs this class in the side trainer grain.
/// Parameter names match the reference (<c>downsample.{i}.adapter_A.weight</c>, <c>z.{i}</c>,
/// <c>qst_layers.{i}.self_attn.q_proj.weight</c>, <c>norm_qst.weight</c>, <c>upsample.{weight,bias}</c>,
/// <c>lm_head_z</c>); <c>lm_head_z</c> is a parameter only with <see cref="QstConfig.TrainMergeGate"/>,
/// otherwise a saved buffer. This is the only module of a QST run with autograd.
/// </summary>
public sealed class QstSideNetwork : nn.Module
{
    readonly ModelConfig _model;
    readonly QstConfig _config;
    readonly ModuleList<DownsampleAdapter> _downsample = new();   // N × A_i: adapter_A [p, H], adapter_B [d, p], post_layer_norm [d]
    readonly ParameterList _z = new();                            // N × z_i [d] ladder gates (raw; σ applied in the forward)
    // N × S_i at width d. Llama: q_proj, o_proj [d, d]; k_proj, v_proj [n_kv·d_h, d]; gate_proj, up_proj [I_s, d];
    // down_proj [d, I_s]; input_layernorm, post_attention_layernorm [d]. OPT: four [d, d] projections, fc1 [I_s, d], fc2 [d, I_s].
    readonly ModuleList<DecoderLayer> _layers = new();
    readonly nn.Module<Tensor, Tensor> _norm;                     // norm_qst: weight [d] (OPT: LayerNorm weight, bias [d])
    readonly DenseLinear _upsample;                               // U: weight [E, d] ([out, in]), bias [E]
    // Named as registered, so Module.to(device) re-points the field at the moved tensor.
    [TorchSharp.Utils.ComponentName(Name = "lm_head_z")] readonly Tensor _lmHeadZ;   // λ [E] fp32: Parameter when trained, buffer otherwise
    readonly ScalarType _gateStorage;
    readonly ScalarType _compute, _accumulate;

    public ModelConfig Model => _model;
    public QstConfig Config => _config;
    /// <summary>The dtype of the side network's matmul operands (U and ĥ cross the wire in it with lean taps).</summary>
    public ScalarType ComputeDType => _compute;

    /// <summary>True when every adapter can be split (no pre-adapter LayerNorm, no adapter dropout): lean taps need it.</summary>
    public bool SupportsLeanTaps => _downsample.All(a => a.Splittable);

    /// <summary>Number of trainable elements (the figures of spec §2).</summary>
    public long TrainableParameterCount => parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    /// <param name="taps">N+1 frozen states [B, T, H]: the embedding output, then every layer's output.</param>
    /// <param name="finalNormed">ĥ [B, T, E]: the backbone's final-normed output (OPT: after project_out).</param>
    /// <param name="caches">Incremental decoding: one KV cache per side layer (spec §8: a second cache next to the backbone's).</param>
    /// <returns>f [B, T, E] fp32, the merged state the LM head reads.</returns>
    public Tensor Forward(IReadOnlyList<Tensor> taps, Tensor finalNormed, AttentionContext context, IReadOnlyList<KvCache>? caches = null)
    {
        if (taps.Count != _model.NumLayers + 1)
            throw new ArgumentException($"the side network needs {_model.NumLayers + 1} taps (embedding + {_model.NumLayers} layers), got {taps.Count}");
        return Run(t => _downsample[AdapterProjection.AdapterOfTap(t)].forward(taps[t]), finalNormed, context, caches);
    }

    /// <summary>
    /// The same forward over lean taps: U_t = W_A · tap_t computed where the taps live (<see cref="AdapterProjection"/>), so
    /// each adapter here runs only its part after W_A. Equal to <see cref="Forward"/> up to the dtype U crosses in.
    /// </summary>
    /// <param name="projections">N+1 × U_t [B, T, p] in the compute dtype (leaves: their gradients are what the stages need).</param>
    /// <param name="finalNormed">ĥ [B, T, E] (any float dtype: lean taps carry it in the compute dtype).</param>
    public Tensor ForwardProjected(IReadOnlyList<Tensor> projections, Tensor finalNormed, AttentionContext context)
    {
        if (projections.Count != _model.NumLayers + 1)
            throw new ArgumentException($"the side network needs {_model.NumLayers + 1} projected taps, got {projections.Count}");
        return Run(t => _downsample[AdapterProjection.AdapterOfTap(t)].FromProjection(projections[t]), finalNormed, context, null);
    }

    /// <summary>The adapter that reads tap t with <see cref="AdapterProjection.AdapterOfTap"/>.</summary>
    public DownsampleAdapter Adapter(int index) => _downsample[index];

    /// <summary>Parameter name of adapter i's W_A (checkpoints and the stages' slices use it).</summary>
    public static string ProjectionName(int adapter) => $"downsample.{adapter}.adapter_A.weight";

    /// <param name="downsampled">A(tap_t) [B, T, d] for tap t, computed on demand in tap order.</param>
    Tensor Run(Func<int, Tensor> downsampled, Tensor finalNormed, AttentionContext context, IReadOnlyList<KvCache>? caches)
    {
        if (caches is not null && caches.Count != _model.NumLayers)
            throw new ArgumentException($"the side network has {_model.NumLayers} layers but got {caches.Count} KV caches");
        using var scope = NewDisposeScope();

        // Downsample the embedding output: A_0 (used again for layer 0's output below).
        var s = downsampled(0);                                                          // [B, T, d]

        // The ladder: each backbone layer's output, downsampled, is gated into the side state, then a side layer runs.
        for (int i = 0; i < _model.NumLayers; i++)
        {
            var g = _z[i].to(_accumulate).sigmoid();                                     // [d]
            s = (g.RSub(Scalars.One) * downsampled(i + 1)).Plus(g * s);                  // [B, T, d]: (1 − g)·A(h) + g·s
            s = _layers[i].Forward(s, context, caches?[i]);                              // [B, T, d]
        }

        // Side norm, then upsample back to the LM head's width.
        var up = _upsample.forward(_norm.forward(s).to(_compute)).to(_accumulate);     // [B, T, E]

        // Merge gate with the backbone's final-normed hidden state ĥ.
        var a = _lmHeadZ.to(_accumulate).sigmoid();                                      // [E]
        var f = _config.ReversedMergeGate
            ? (a * up).Plus(a.RSub(Scalars.One) * finalNormed.to(_accumulate))          // a·U(ŝ) + (1 − a)·ĥ
            : (a.RSub(Scalars.One) * up).Plus(a * finalNormed.to(_accumulate));         // [B, T, E]: (1 − a)·U(ŝ) + a·ĥ
        return f.MoveToOuterDisposeScope();
    }

    /// <param name="seed">Seeds the init of every parameter (recorded in checkpoints).</param>
    /// <param name="device">
    /// Where the parameters are made: null = the default (CPU) device with the seeded init (spec §3). <c>meta</c> =
    /// shapes only, no storage and no init draw: names, shapes and counts of 7B–70B side networks without the memory.
    /// </param>
    public QstSideNetwork(ModelConfig model, QstConfig config, Precision precision, long seed, Device? device = null) : base("qst_side_network")
    {
        config.Validate(model);
        _model = model;
        _config = config;
        var shape = config.SideShape(model);
        int d = shape.Hidden, e = QstConfig.OutputWidth(model);
        using var generator = new Generator((ulong)seed);
        var linear = SideParameters.Factory(config, precision, generator, device);
        _compute = precision.Compute;
        _accumulate = precision.Accumulate;
        _gateStorage = config.Fp32MasterWeights ? ScalarType.Float32 : precision.Compute;

        // The creation order below fixes which generator draws each parameter gets: do not reorder.
        for (int i = 0; i < model.NumLayers; i++)
            _downsample.Add(new DownsampleAdapter(model.HiddenSize, config.AdapterBottleneck, d, config, precision, generator, device));
        using Scalar gateInit = config.GateInit;                                               // owned: see Scalars
        for (int i = 0; i < model.NumLayers; i++)
            _z.Add(new Parameter(full(d, gateInit, dtype: _gateStorage, device: device)));            // [d]
        // Only the side layers' attention may keep bf16 scores (opt-in); the adapters and the backbone are unaffected.
        var layerPrecision = config.SideScoresBf16 ? precision with { ScoresInCompute = true } : precision;
        for (int i = 0; i < model.NumLayers; i++)
        {
            _layers.Add(model.Architecture == ModelArchitecture.Opt
                ? new OptDecoderLayer(shape, linear, _ => LayerNorm32.Identity(d, 1e-5, trainable: true, device), precision)
                : new LlamaDecoderLayer(shape, linear, _ => RmsNorm.Ones(d, shape.NormEps, trainable: true, device), layerPrecision));
        }
        _norm = model.Architecture == ModelArchitecture.Opt
            ? LayerNorm32.Identity(d, 1e-5, trainable: true, device)
            : RmsNorm.Ones(d, shape.NormEps, trainable: true, device);
        _upsample = SideParameters.Linear(e, d, bias: true, config, precision, generator, device);

        register_module("downsample", _downsample);
        register_module("z", _z);
        register_module("qst_layers", _layers);
        register_module("norm_qst", _norm);
        register_module("upsample", _upsample);
        using Scalar mergeGateInit = config.MergeGateInit;
        var lambda = full(e, mergeGateInit, dtype: ScalarType.Float32, device: device);             // [E]
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
}
