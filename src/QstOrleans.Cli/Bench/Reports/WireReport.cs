using System.Globalization;
using System.Text;
using QstOrleans.Model.Config;

namespace QstOrleans.Cli.Bench.Reports;

/// <summary>
/// One configuration of <c>qst bench wire</c>: a shape, taps mode and per-silo link rate (0 = unlimited). Measured
/// records carry the median of their interleaved runs (<see cref="TokensPerSecondRuns"/> lists every run); formula-only
/// records (the Llama-2 shapes) have null measurements. Bytes are per trained token (B·T positions), both directions.
/// </summary>
public sealed record WireRecord
{
    public required string Shape { get; init; }
    public required string Taps { get; init; }
    public int LinkMbit { get; init; }
    public double? TokensPerSecond { get; init; }
    /// <summary>Measured: every byte that crossed between the silo hosts (interface counters, TCP/IP framing included).</summary>
    public double? WireBytesPerToken { get; init; }
    public double FormulaBytesPerToken { get; init; }
    public double FormulaSideBytesPerToken { get; init; }
    /// <summary>Measured records: the formula plus lean's once-per-run W_A hand-out and collection
    /// (<see cref="WireFormula.LeanStartAndEndBytes"/>) spread over the run's tokens: what the counters should see.</summary>
    public double? FormulaRunBytesPerToken { get; init; }
    public int Stages { get; init; }
    public int Hosts { get; init; }
    public bool SideOnLastStageHost { get; init; }
    /// <summary>Where the parts ran (measured) or are assumed (formula): stage hosts, side trainer, job grain.</summary>
    public string Layout { get; init; } = "";
    public IReadOnlyList<int> StageHosts { get; init; } = [];
    public int SideHost { get; init; }
    public int JobHost { get; init; }
    public IReadOnlyList<double> TokensPerSecondRuns { get; init; } = [];
    public IReadOnlyList<double> WireBytesPerTokenRuns { get; init; } = [];
    /// <summary>Runs of this configuration in which the job recovered (replayed micro-batches count their bytes twice).</summary>
    public int RunsWithRecovery { get; init; }
}

/// <summary>The kill -9 part: a silo's process killed mid-run, and what the job did about it.</summary>
public sealed record WireKillRun(
    string Taps, int LinkMbit, string KilledSilo, int KilledAtStep, int Steps, int FinalStep, int Recoveries, int ResumedFromStep,
    bool LossesEqualUninterrupted, string Reason);

/// <summary>Everything <c>qst bench wire</c> writes to wire.json.</summary>
public sealed record WireResults
{
    public string Command { get; init; } = "";
    public string Machine { get; init; } = "";
    public DateTimeOffset Date { get; init; }
    public string LoadAverage { get; init; } = "";
    public int Steps { get; init; }
    public int WarmupSteps { get; init; }
    public int TokensPerStep { get; init; }
    public int Repeats { get; init; }
    public List<WireRecord> Records { get; init; } = [];
    public WireKillRun? Kill { get; init; }
    public List<string> Notes { get; init; } = [];
}

/// <summary>Formula-only records, and WIRE.md from the results.</summary>
public static class WireReport
{
    public const int TokensPerStep = 4 * 128;

    /// <summary>The Llama-2 shapes on one host per stage, side trainer on the last stage's host, job grain on host 0.</summary>
    public static IEnumerable<WireRecord> FormulaOnly()
    {
        foreach (var (preset, stages) in new[] { ("llama2-7b", 2), ("llama2-13b", 4), ("llama2-70b", 8) })
        foreach (string taps in new[] { "full", "lean" })
            yield return Formula(WireShape.Of(ModelPresets.Get(preset)), WireLayout.SideOnLastStage(stages, stages), taps) with { Shape = preset };
    }

    /// <summary>The formula's record for one layout (bf16 compute, <see cref="TokensPerStep"/> tokens per optimizer step).</summary>
    /// <param name="tokensPerRun">Measured runs: the trained tokens of one run (for <see cref="WireRecord.FormulaRunBytesPerToken"/>).</param>
    public static WireRecord Formula(WireShape shape, WireLayout layout, string taps, int linkMbit = 0, long? tokensPerRun = null)
    {
        var b = WireFormula.PerToken(shape, layout, taps, computeBytes: 2, TokensPerStep);
        double oneOff = taps == "lean" ? WireFormula.LeanStartAndEndBytes(shape, layout) : 0;
        return new WireRecord
        {
            Shape = shape.Name, Taps = taps, LinkMbit = linkMbit, FormulaBytesPerToken = b.Total, FormulaSideBytesPerToken = b.Side,
            FormulaRunBytesPerToken = tokensPerRun is { } t ? b.Total + oneOff / t : null,
            Stages = layout.Stages, Hosts = layout.Hosts, SideOnLastStageHost = layout.SideOnLastStageHost, Layout = Describe(layout),
            StageHosts = Enumerable.Range(0, layout.Stages).Select(layout.StageHost).ToList(), SideHost = layout.SideHost, JobHost = layout.JobHost,
        };
    }

    /// <summary>A measured record's formula fields recomputed from its placement (after a formula change; <c>--render</c>).</summary>
    public static WireRecord Recompute(WireRecord r, WireShape shape, long tokensPerRun) =>
        Formula(shape, new WireLayout(r.StageHosts.Count, r.Hosts, r.SideHost, r.JobHost, r.StageHosts), r.Taps, r.LinkMbit, tokensPerRun) with
        {
            Shape = r.Shape, Layout = r.Layout, TokensPerSecond = r.TokensPerSecond, WireBytesPerToken = r.WireBytesPerToken,
            TokensPerSecondRuns = r.TokensPerSecondRuns, WireBytesPerTokenRuns = r.WireBytesPerTokenRuns, RunsWithRecovery = r.RunsWithRecovery,
        };

    public static string Describe(WireLayout l) =>
        $"stages on hosts [{string.Join(",", Enumerable.Range(0, l.Stages).Select(i => l.StageHost(i)))}], side on {l.SideHost}, job on {l.JobHost}";

    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>WIRE.md: how to rerun, the measured table, the formula table, the kill run and the notes.</summary>
    public static string Markdown(WireResults r, string chart)
    {
        static string F(double? v, string format) => v is { } x && !double.IsNaN(x) ? x.ToString(format, CultureInfo.InvariantCulture) : "–";
        static string Link(int mbit) => mbit == 0 ? "unlimited" : mbit >= 1000 ? $"{mbit / 1000.0:0.#} Gbit/s" : $"{mbit} Mbit/s";
        var md = new StringBuilder();
        md.AppendLine("# Wire benchmark: bytes between hosts, full vs lean taps").AppendLine();
        md.AppendLine($"Rerun (as root, from the repository root): `{r.Command}`").AppendLine();
        md.AppendLine($"{r.Date:yyyy-MM-dd HH:mm} UTC on {r.Machine}; load average {r.LoadAverage}. Two silos and Redis in network namespaces " +
                      $"(`deploy/netns-cluster.sh`, tbf on each silo link), 2 stages, {r.TokensPerStep} tokens per step, {r.Steps} steps, " +
                      $"tokens/s over steps {r.WarmupSteps}..{r.Steps} (startup excluded), median of {r.Repeats} interleaved run(s); " +
                      "measured bytes = all traffic between the silo hosts from submit to completion, per trained token (veth counters, both " +
                      "directions, TCP/IP framing and Orleans membership traffic included).").AppendLine();
        var measured = r.Records.Where(x => x.TokensPerSecond is not null).ToList();
        if (measured.Count > 0)
        {
            md.AppendLine("| shape | taps | link per silo | tokens/s (runs) | wire B/token (runs) | formula B/token | formula side B/token | formula + start/end B/token | wire / that | layout (hosts 0 = h1, 1 = h2) |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (var x in measured)
                md.AppendLine($"| {x.Shape} | {x.Taps} | {Link(x.LinkMbit)} | {F(x.TokensPerSecond, "F0")} ({string.Join(", ", x.TokensPerSecondRuns.Select(v => F(v, "F0")))}) " +
                              $"| {F(x.WireBytesPerToken, "F0")} ({string.Join(", ", x.WireBytesPerTokenRuns.Select(v => F(v, "F0")))}) " +
                              $"| {F(x.FormulaBytesPerToken, "F0")} | {F(x.FormulaSideBytesPerToken, "F1")} | {F(x.FormulaRunBytesPerToken, "F0")} " +
                              $"| {F(x.WireBytesPerToken / (x.FormulaRunBytesPerToken ?? x.FormulaBytesPerToken), "F3")} | {x.Layout}" +
                              $"{(x.RunsWithRecovery > 0 ? $"; {x.RunsWithRecovery} run(s) recovered" : "")} |");
            md.AppendLine();
            md.AppendLine("Formula + start/end: lean taps also hand the remote stage its W_A slices with their AdamW state at the start and " +
                          "copy them back at the last step (`WireFormula.LeanStartAndEndBytes`), once per run, here spread over the run's tokens.").AppendLine();
        }
        md.AppendLine("Formula only (bf16, side trainer on the last stage's host, one stage per host):").AppendLine();
        md.AppendLine("| shape | stages = hosts | taps | formula B/token | stage↔side B/token | full / lean (side) |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var x in r.Records.Where(x => x.TokensPerSecond is null))
        {
            var full = r.Records.FirstOrDefault(y => y.Shape == x.Shape && y.Taps == "full" && y.TokensPerSecond is null);
            string ratio = x.Taps == "lean" && full is not null ? F(full.FormulaSideBytesPerToken / x.FormulaSideBytesPerToken, "F0") + "×" : "";
            md.AppendLine($"| {x.Shape} | {x.Stages} | {x.Taps} | {F(x.FormulaBytesPerToken, "N0")} | {F(x.FormulaSideBytesPerToken, "N1")} | {ratio} |");
        }
        md.AppendLine();
        if (r.Kill is { } k)
            md.AppendLine($"Kill -9: silo {k.KilledSilo} ({k.Taps} taps, {Link(k.LinkMbit)}) killed at step {k.KilledAtStep}; the job recovered " +
                          $"{k.Recoveries} time(s), resumed from step {k.ResumedFromStep} and ended at step {k.FinalStep} of {k.Steps}; per-step losses " +
                          $"{(k.LossesEqualUninterrupted ? "bitwise equal to" : "DIFFERENT from")} the uninterrupted run's. Detected as: {k.Reason}").AppendLine();
        if (chart.Length > 0) md.AppendLine($"![tokens/s vs link]({chart})").AppendLine();
        foreach (var note in r.Notes) md.AppendLine($"- {note}");
        return md.ToString();
    }
}
