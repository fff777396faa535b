using QstOrleans.Model.Config;
using QstOrleans.Model.Qst;

namespace QstOrleans.Cli.Bench.Reports;

/// <summary>
/// Where the parts of a distributed QST job sit: S stages over K hosts (contiguous blocks, stage i on host
/// ⌊i·K/S⌋, unless <see cref="StageHosts"/> says where each stage ran), the side trainer's host and the job grain's
/// host (0-based).
/// </summary>
public sealed record WireLayout(int Stages, int Hosts, int SideHost, int JobHost, IReadOnlyList<int>? StageHosts = null)
{
    /// <summary>The usual production layout: side trainer on the last stage's host, job grain on stage 0's.</summary>
    public static WireLayout SideOnLastStage(int stages, int hosts) => new(stages, hosts, hosts - 1, 0);

    public int StageHost(int stage) => StageHosts?[stage] ?? stage * Hosts / Stages;

    /// <summary>True when the side trainer shares the last stage's host (ĥ then never crosses a link).</summary>
    public bool SideOnLastStageHost => SideHost == StageHost(Stages - 1);
}

/// <summary>A model shape as the wire sees it: H, N decoder layers, E (ĥ's width), p (adapter bottleneck).</summary>
public sealed record WireShape(string Name, int Hidden, int Layers, int OutputWidth, int AdapterDim)
{
    public static WireShape Of(ModelConfig model, int adapterDim = 16) =>
        new(model.Name, model.HiddenSize, model.NumLayers, QstConfig.OutputWidth(model), adapterDim);
}

/// <summary>Bytes per trained token that cross between hosts, by kind (fractions: control is amortized over a step).</summary>
public sealed record WireBytes(double StageToStage, double StageToSide, double Control, double Inputs)
{
    /// <summary>The stage↔side part alone (taps, ĥ, lean gradients G, lean per-step control).</summary>
    public double Side => StageToSide + Control;
    public double Total => StageToStage + StageToSide + Control + Inputs;
}

/// <summary>
/// The bytes per trained token (B·T positions, padding included) that cross between hosts in a distributed QST job,
/// engine-free. Per token, with c = bytes of the compute dtype (bf16 2, fp32 4), counting only messages whose two
/// ends sit on different hosts:
/// <code>
/// stage i → stage i+1   4·H + 8                 fp32 hidden state [B, T, H] + int64 attention mask [B, T]
/// job → stage 0         8 + 8                   int64 tokens + mask
/// job → side            8 + 8                   int64 labels + mask
/// stage i → side, full  4·H per tap             fp32 x_i; stage 0 has the embedding tap too (N + 1 taps in all)
///                       + 4·E                   ĥ from the last stage, fp32
/// stage i ↔ side, lean  2·c·p per tap           U_i = W_A,i·x_i forward and G_i = ∂L/∂U_i back, [B, T, p] each
///                       + c·E                   ĥ in the compute dtype
///                       + (8·taps_i + 16)/tokens per step   control: Σg² per owned W_A slice up, clip factor + lr down
/// </code>
/// Stage i holds ⌊(N−S)/S⌋+1 layers, the first (N−S) mod S stages one more (the stage planner on equal slots).
/// Not counted: Orleans message headers and TCP/IP framing (the measurement on the links includes them).
/// </summary>
public static class WireFormula
{
    public const int HiddenBytes = 4, IdBytes = 8;
    const int ControlScalarsDown = 2;   // clip coefficient and learning rate (8 bytes each)

    public static WireBytes PerToken(WireShape shape, WireLayout layout, string taps, int computeBytes, long tokensPerStep)
    {
        Validate(shape, layout, taps, computeBytes, tokensPerStep);
        bool lean = taps == "lean";
        int s = layout.Stages;
        double stageToStage = 0, side = 0, control = 0, inputs = 0;
        for (int i = 0; i < s; i++)
        {
            int host = layout.StageHost(i);
            if (i + 1 < s && host != layout.StageHost(i + 1)) stageToStage += HiddenBytes * (double)shape.Hidden + IdBytes;
            if (host == layout.SideHost) continue;
            int tapCount = LayersOf(i, shape.Layers, s) + (i == 0 ? 1 : 0);
            side += tapCount * (lean ? 2.0 * computeBytes * shape.AdapterDim : HiddenBytes * (double)shape.Hidden);
            if (i == s - 1) side += (lean ? computeBytes : HiddenBytes) * (double)shape.OutputWidth;
            if (lean) control += (IdBytes * (double)tapCount + IdBytes * ControlScalarsDown) / tokensPerStep;
        }
        if (layout.JobHost != layout.StageHost(0)) inputs += 2 * IdBytes;
        if (layout.JobHost != layout.SideHost) inputs += 2 * IdBytes;
        return new WireBytes(stageToStage, side, control, inputs);
    }

    /// <summary>
    /// Lean taps' bytes per job attempt, not per token: the side trainer hands each stage its W_A slices with their AdamW
    /// moments (3 fp32 tensors [p, H] per adapter) at the start and copies them back at the last step (and at every
    /// checkpoint), for the adapters of stages not on the side trainer's host. Stage i owns adapters first..end−1.
    /// </summary>
    public static double LeanStartAndEndBytes(WireShape shape, WireLayout layout)
    {
        int remoteAdapters = Enumerable.Range(0, layout.Stages).Where(i => layout.StageHost(i) != layout.SideHost).Sum(i => LayersOf(i, shape.Layers, layout.Stages));
        return 2.0 * remoteAdapters * 3 * HiddenBytes * shape.AdapterDim * (double)shape.Hidden;
    }

    /// <summary>Decoder layers of stage <paramref name="stage"/> of <paramref name="stages"/> (balanced, first stages take the remainder).</summary>
    public static int LayersOf(int stage, int layers, int stages) => layers / stages + (stage < layers % stages ? 1 : 0);

    static void Validate(WireShape shape, WireLayout layout, string taps, int computeBytes, long tokensPerStep)
    {
        if (taps is not ("full" or "lean")) throw new ArgumentException($"taps: '{taps}' is not full or lean");
        if (computeBytes is not (2 or 4)) throw new ArgumentException($"computeBytes: {computeBytes} is not 2 (bf16) or 4 (fp32)");
        if (layout.Stages < 1 || layout.Stages > shape.Layers)
            throw new ArgumentException($"stages: {layout.Stages} is not in 1..{shape.Layers} (the layers of {shape.Name})");
        if (layout.Hosts < 1) throw new ArgumentException($"hosts: {layout.Hosts} must be >= 1");
        if (layout.SideHost < 0 || layout.SideHost >= layout.Hosts) throw new ArgumentException($"side host: {layout.SideHost} is not in 0..{layout.Hosts - 1}");
        if (layout.JobHost < 0 || layout.JobHost >= layout.Hosts) throw new ArgumentException($"job host: {layout.JobHost} is not in 0..{layout.Hosts - 1}");
        if (layout.StageHosts is { } hosts && (hosts.Count != layout.Stages || hosts.Any(h => h < 0 || h >= layout.Hosts)))
            throw new ArgumentException($"stage hosts: [{string.Join(",", hosts)}] must name a host in 0..{layout.Hosts - 1} for each of {layout.Stages} stages");
        if (tokensPerStep < 1) throw new ArgumentException($"tokens per step: {tokensPerStep} must be >= 1");
    }
}
