using QstOrleans.Configuration;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;

namespace QstOrleans.Model.Qst;

/// <summary>
/// Hyper-parameters of the QST side network (spec §1, §5). Every field is explicit (reference quirk
/// Q10: trailing-comma defaults). Defaults reproduce the reference code's behaviour:
/// <list type="bullet">
/// <item><see cref="R"/> = 16 side reduction (d = H/r), <see cref="AdapterBottleneck"/> p = 16, SiLU, LayerNorm after the adapter.</item>
/// <item><see cref="TrainMergeGate"/> = false: the reference never registers <c>lm_head_z</c>, so the merge gate
/// stays at σ(1.0) = 0.7311 (quirk Q3). true trains it (the paper's apparent intent).</item>
/// <item><see cref="AdapterDropout"/> = 0: the reference's inverted test disables adapter dropout (quirk Q1).</item>
/// <item><see cref="ReversedMergeGate"/> = false: the Llama form f = (1−a)·U(ŝ) + a·ĥ for every architecture;
/// true gives the OPT reference's reversed form f = a·U(ŝ) + (1−a)·ĥ (quirk Q4).</item>
/// <item><see cref="Fp32MasterWeights"/> = true: side weights kept in fp32 and cast to the compute dtype per
/// call (spec §4's recommendation); false stores them in the compute dtype like the reference (quirk Q7).</item>
/// </list>
/// </summary>
public sealed record QstConfig
{
    // Defaults are read from the one training configuration, never declared here.
    // Read once: TrainingConfig.Defaults builds a whole fresh config per call.
    static readonly QstSection D = TrainingConfig.Defaults.Qst;

    public int R { get; init; } = D.R;
    public int AdapterBottleneck { get; init; } = D.AdapterBottleneck;
    /// <summary>"silu" (the reference's "swish"), "relu" or "gelu".</summary>
    public string Activation { get; init; } = D.Activation;
    public bool LayerNormAfterAdapter { get; init; } = D.LayerNormAfterAdapter;
    public bool LayerNormBeforeAdapter { get; init; } = D.LayerNormBeforeAdapter;
    public double AdapterDropout { get; init; } = D.AdapterDropout;
    public bool TrainMergeGate { get; init; } = D.TrainMergeGate;
    public bool ReversedMergeGate { get; init; } = D.ReversedMergeGate;
    public bool Fp32MasterWeights { get; init; } = D.Fp32MasterWeights;
    /// <summary>Raw init of each ladder gate z_i (σ(0.5) = 0.6225 on the previous side state).</summary>
    public float GateInit { get; init; } = D.GateInit;
    /// <summary>Raw init of the merge gate λ (σ(1.0) = 0.7311 on the backbone output).</summary>
    public float MergeGateInit { get; init; } = D.MergeGateInit;
    /// <summary>
    /// Attention heads of each side layer (<c>qst.side_heads</c>). 0, or the backbone's own head count, keeps the
    /// reference's shape: the backbone's head and key/value-head counts. Any other count gives plain multi-head attention
    /// (as many key/value heads as heads) with head dim d / heads: an opt-in architecture change that shrinks the side
    /// attention's [B, heads, T, T] scores and probabilities per layer. Absent from an old <c>side_config.json</c> = 0.
    /// </summary>
    public int SideHeads { get; init; } = D.SideHeads;
    /// <summary>
    /// <c>qst.side_scores_bf16</c>: the side layers keep their attention scores in the compute dtype (bf16) through mask and
    /// softmax instead of an fp32 copy (<see cref="Precision.ScoresInCompute"/>): forward probabilities within one bf16 ulp,
    /// backward within bf16 rounding of the saved softmax output, 2 instead of 6 bytes saved per score. No effect when the
    /// compute dtype is fp32. Default true (session 8: the reference tests run fp32, where it is a no-op, and the bf16
    /// gradient stays within the bound of SideAttention/Bf16ScoresTests). Always written to side_config.json, so an export
    /// says which path trained it; a file from before the key reads as the default (a one-ulp forward difference at most).
    /// Acts on the eager and recompute kernels (the default since session 9 recomputes the scores in backward instead of
    /// saving them); the fused kernel never materializes them.
    /// </summary>
    public bool SideScoresBf16 { get; init; } = D.SideScoresBf16;

    /// <summary>The engine's view of the <c>qst</c> section.</summary>
    public static QstConfig From(QstSection s) => new()
    {
        R = s.R, AdapterBottleneck = s.AdapterBottleneck, Activation = s.Activation, LayerNormAfterAdapter = s.LayerNormAfterAdapter,
        LayerNormBeforeAdapter = s.LayerNormBeforeAdapter, AdapterDropout = s.AdapterDropout, TrainMergeGate = s.TrainMergeGate,
        ReversedMergeGate = s.ReversedMergeGate, Fp32MasterWeights = s.Fp32MasterWeights, GateInit = s.GateInit, MergeGateInit = s.MergeGateInit,
        SideHeads = s.SideHeads, SideScoresBf16 = s.SideScoresBf16,
    };

    /// <summary>True when the side layers keep the backbone's head counts (the reference's shape).</summary>
    public bool ReferenceHeads(ModelConfig model) => SideHeads == 0 || SideHeads == model.NumHeads;

    /// <summary>The side layers' shape: width H/r, MLP I/r, RoPE base 10000 (qst.py forces it); head counts the backbone's
    /// (the reference), or <see cref="SideHeads"/> heads of plain multi-head attention.</summary>
    public LayerShape SideShape(ModelConfig model)
    {
        int d = model.HiddenSize / R;
        // Explicitly the backbone's count maps to the reference's shape too, so a GQA backbone keeps its KV heads.
        var (heads, kvHeads) = ReferenceHeads(model) ? (model.NumHeads, model.NumKeyValueHeads) : (SideHeads, SideHeads);
        return new LayerShape(d, model.IntermediateSize / R, heads, kvHeads,
            d / heads, model.NormEps, 10000.0, null, Bias: model.Architecture == ModelArchitecture.Opt && model.EnableBias);
    }

    /// <summary>Width of the merged output f: the LM head's input (H, or OPT's word_embed_proj_dim).</summary>
    public static int OutputWidth(ModelConfig model) =>
        model.Architecture == ModelArchitecture.Opt ? model.WordEmbedProjDim : model.HiddenSize;

    /// <summary>Checks that this config fits the model; the message names the field.</summary>
    public QstConfig Validate(ModelConfig model)
    {
        void Require(bool ok, string why)
        {
            if (!ok) throw new ArgumentException($"QST config does not fit model '{model.Name}': {why}");
        }
        Require(R >= 1, $"r must be >= 1, got {R}");
        Require(AdapterBottleneck >= 1, $"adapter bottleneck must be >= 1, got {AdapterBottleneck}");
        Require(model.HiddenSize % R == 0, $"hidden_size {model.HiddenSize} is not divisible by r = {R}");
        int d = model.HiddenSize / R;
        Require(SideHeads >= 0, $"qst.side_heads must be >= 0 (0 = the backbone's {model.NumHeads}), got {SideHeads}");
        if (ReferenceHeads(model))
            Require(d % model.NumHeads == 0 && (d / model.NumHeads) % 2 == 0,
                $"side width d = H/r = {d} must be a multiple of 2·num_attention_heads ({model.NumHeads}) so each side head has an even RoPE dimension" +
                " (qst.side_heads sets fewer side heads)");
        else
            Require(d % SideHeads == 0 && (d / SideHeads) % 2 == 0,
                $"qst.side_heads = {SideHeads} does not fit side width d = H/r = {d}: d must be a multiple of 2·side_heads so each side head has an even RoPE dimension");
        Require(model.IntermediateSize / R >= 1, $"intermediate_size {model.IntermediateSize} / r = {R} is zero");
        Require(Activation is "silu" or "swish" or "relu" or "gelu", $"unknown activation '{Activation}' (silu, relu, gelu)");
        Require(AdapterDropout is >= 0 and < 1, $"adapter dropout must be in [0, 1), got {AdapterDropout}");
        return this;
    }
}
