using System.Runtime.CompilerServices;
using QstOrleans.Model.Qst;

namespace QstOrleans.Grains.Jobs.Recovery;

/// <summary>
/// How long a health probe may take on a slow but live link. Orleans sends every message between two silos over one
/// connection, so a probe (or its reply) can queue behind the tensors already in flight: up to <c>window</c>
/// micro-batches, each at most <see cref="BytesPerToken"/> · B · T_max bytes. With <c>Qst:MinLinkMbit</c> set (the slowest
/// link the cluster must tolerate, Mbit/s), the probe timeout grows by the time those bytes take on such a link:
/// <code>
/// timeout = Qst:HealthProbeTimeout + window · bytes per micro-batch · 8 / (MinLinkMbit · 10⁶) s
/// </code>
/// 0 (the default) keeps the fixed timeout (one host, or fast links).
/// </summary>
public static class ProbeBudget
{
    /// <summary>
    /// An upper bound on the bytes per token position a micro-batch puts on the links, whatever the placement: every
    /// stage boundary (fp32 hidden + int64 mask), every tap (full: fp32 [H]; lean: U and G, p values each in the compute
    /// dtype), ĥ (full: fp32; lean: compute dtype) and the int64 tokens, labels and masks.
    /// </summary>
    /// <param name="computeBytes">2 for bf16, 4 for fp32.</param>
    public static long BytesPerToken(int hidden, int layers, int outputWidth, int adapterDim, int stages, string taps, int computeBytes)
    {
        long boundaries = (stages - 1) * (4L * hidden + 8);
        long side = taps == "lean"
            ? (layers + 1) * 2L * computeBytes * adapterDim + (long)computeBytes * outputWidth
            : 4L * ((long)hidden * (layers + 1) + outputWidth);
        return boundaries + side + 32;
    }

    static readonly ConditionalWeakTable<JobPlan, object> InFlight = new();

    /// <summary>The most bytes <paramref name="plan"/>'s pipeline can have on the links: window · B · T_max · <see cref="BytesPerToken"/>,
    /// T_max the longest example (computed once per plan).</summary>
    public static long BytesInFlight(JobPlan plan) => (long)InFlight.GetValue(plan, p =>
    {
        var spec = p.Spec;
        int longest = p.Batches.Options.Pack || p.Batches.Examples.Count == 0
            ? p.Batches.Options.EffectiveMaxLength
            : p.Batches.Examples.Max(e => e.Length);
        long perToken = BytesPerToken(p.Model.HiddenSize, p.Model.NumLayers, QstConfig.OutputWidth(p.Model), spec.Config.Qst.AdapterBottleneck,
            p.Stages.Count, spec.Taps, spec.Dtype == "fp32" ? 4 : 2);
        return (long)spec.Window * spec.MicroBatchSize * longest * perToken;
    });

    /// <summary>The probe timeout for <paramref name="bytesInFlight"/> on links of at least <paramref name="minLinkMbit"/> (0 = no scaling).</summary>
    public static TimeSpan Timeout(TimeSpan baseTimeout, double minLinkMbit, long bytesInFlight) =>
        minLinkMbit <= 0 ? baseTimeout : baseTimeout + TimeSpan.FromSeconds(bytesInFlight * 8.0 / (minLinkMbit * 1e6));
}
