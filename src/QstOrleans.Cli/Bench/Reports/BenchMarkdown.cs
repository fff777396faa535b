using System.Text;
using QstOrleans.Model.Config;
using static QstOrleans.Cli.Bench.Reports.MarkdownTable;

namespace QstOrleans.Cli.Bench.Reports;

/// <summary>Renders <see cref="BenchResults"/> as the Markdown report (the command that produced it comes first).</summary>
public static class BenchMarkdown
{
    public static string Render(BenchResults r)
    {
        var sb = new StringBuilder();
        sb.Append("# QstOrleans benchmarks\n\n");
        sb.Append("Produced by:\n\n```bash\n").Append(r.Command).Append("\n```\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"Machine: {r.Machine}. Date: {r.Date:yyyy-MM-dd HH:mm} UTC. ");
        if (r.Build.Length > 0) sb.Append("Build: ").Append(r.Build).Append(". ");
        if (r.LoadAverage.Length > 0) sb.Append("Load average (1/5/15 min): ").Append(r.LoadAverage).Append(". ");
        sb.Append("Each configuration ran in its own process, one after another in one invocation, on a shared machine: ");
        sb.Append("compare the ratios, not the absolute figures.\n\n");
        if (r.Comparisons.Count > 0) sb.Append(Compare.CompareMarkdown.Section(r.Comparisons));
        if (r.Methods.Count > 0) sb.Append(MethodsSection(r.Methods));
        if (r.MemoryModel.Count > 0) sb.Append(MemoryModelSection(r.MemoryModel));
        if (r.Nf4.Count > 0) sb.Append(Nf4Section(r.Nf4));
        if (r.Pipeline.Count > 0) sb.Append(TrafficSection(r.Pipeline)).Append(PipelineSection(r.Pipeline));
        if (r.Notes.Count > 0)
        {
            sb.Append("## Notes\n\n");
            foreach (var note in r.Notes) sb.Append("- ").Append(note).Append('\n');
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The per-method table and the ratios against QST (also what the README shows).</summary>
    public static string MethodsSection(IReadOnlyList<MethodRun> runs)
    {
        var sb = new StringBuilder("## 1. Memory and speed per method\n\n");
        sb.Append("Peak = VmHWM during the training steps (reset after loading); floor = RSS with libtorch initialised, before the model; ");
        sb.Append("weights = bytes of every parameter, buffer and NF4 tensor held; gradients = 4 B and AdamW = 8 B per trainable (fp32) parameter; ");
        sb.Append("activations = training peak − RSS after loading − AdamW − gradients (so it also holds allocator slack and transient buffers). MiB.\n\n");
        foreach (var group in runs.GroupBy(x => x.Shape.Model))
        {
            sb.Append("**").Append(group.First().Shape.Describe()).Append("**\n\n");
            sb.Append(MarkdownTable.Render(
                ["method", "trainable", "tokens/s", "s/step", "peak RSS", "floor", "peak − floor", "weights", "gradients", "AdamW", "activations", "loss first → last"],
                group.Select(x => (IReadOnlyList<string>)[
                    x.Method, x.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture), Num(x.TokensPerSecond, 0), Num(x.SecondsPerStep, 2),
                    MiB(x.PeakRssTraining), MiB(x.RssBeforeLoad), MiB(x.PeakAboveFloor), MiB(x.WeightBytes), MiB(x.GradientBytes),
                    MiB(x.OptimizerBytes), MiB(x.ActivationBytes), $"{Num(x.FirstLoss, 3)} → {Num(x.LastLoss, 3)}"]),
                [false, true, true, true, true, true, true, true, true, true, true, false]));
            sb.Append('\n');
        }
        var ratios = BenchRatios.AgainstQst(runs);
        if (ratios.Count > 0)
        {
            sb.Append("Ratios against QST on the same shape (paper: QLoRA/QST memory up to 2.3×, full/QST up to 7×, QST up to 3× faster):\n\n");
            sb.Append(MarkdownTable.Render(["model", "method", "peak RSS / QST's", "(peak − floor) / QST's", "QST tokens/s ÷ method's"],
                ratios.Select(x => (IReadOnlyList<string>)[x.Model, x.Method, Num(x.PeakRatio, 2) + "×", Num(x.AboveFloorRatio, 2) + "×", Num(x.SpeedRatio, 2) + "×"]),
                [false, false, true, true, true]));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    static string MemoryModelSection(IReadOnlyList<MemoryModelRow> rows)
    {
        var sb = new StringBuilder("## 2. Analytic memory model\n\n");
        sb.Append("`MemoryModel` (src/QstOrleans.Cli/Bench/Reports) estimates this engine's memory from the shape alone. ");
        sb.Append("The measured column is the training peak above the runtime floor (section 1) where the shape runs here; ");
        sb.Append("the paper column is its Llama-2-70B figure (weights / optimizer / activations = total, batch and sequence length not stated). GB = 10⁹ B.\n\n");
        // Shapes measured here in MiB (their figures are far below a GB), the Llama-2 shapes in GB.
        var measured = rows.Where(x => x.MeasuredAboveFloor is not null).ToList();
        if (measured.Count > 0)
            sb.Append(MarkdownTable.Render(["model", "batch × seq", "method", "weights MiB", "optimizer + grads MiB", "activations MiB", "total MiB", "measured peak − floor MiB", "model ÷ measured"],
                measured.Select(x => (IReadOnlyList<string>)[
                    x.Model, $"{x.Batch} × {x.Sequence}", x.Method, MiB(x.Estimate.Weights), MiB(x.Estimate.OptimizerAndGradients), MiB(x.Estimate.Activations),
                    MiB(x.Estimate.Total), MiB(x.MeasuredAboveFloor!.Value), Num(x.Estimate.Total / x.MeasuredAboveFloor.Value, 2)]),
                [false, false, false, true, true, true, true, true, true])).Append('\n');
        var presets = rows.Where(x => x.MeasuredAboveFloor is null).ToList();
        if (presets.Count > 0)
            sb.Append(MarkdownTable.Render(["model", "batch × seq", "method", "weights GB", "optimizer + grads GB", "activations GB", "total GB", "paper 70B (w / opt / act = total)"],
                presets.Select(x => (IReadOnlyList<string>)[
                    x.Model, $"{x.Batch} × {x.Sequence}", x.Method, Gb(x.Estimate.Weights), Gb(x.Estimate.OptimizerAndGradients), Gb(x.Estimate.Activations),
                    Gb(x.Estimate.Total), x.Paper is { } p ? $"{p.WeightsGb:F0} / {p.OptimizerGb:F0} / {p.ActivationsGb:F0} = {p.TotalGb:F0}" : ""]),
                [false, false, false, true, true, true, true, false]));
        sb.Append('\n');
        return sb.ToString();
    }

    static string Nf4Section(IReadOnlyList<Nf4Result> rows)
    {
        var sb = new StringBuilder("## 3. NF4 hot path\n\n");
        sb.Append("Bandwidth = a plain parallel memory copy in the same process (bytes read + written per second). ");
        sb.Append("Dequantize moves 0.5 B packed + the absmax in and 2 B bf16 out per weight; its bound is those bytes at the copy's rate. ");
        sb.Append("Every round times each variant once, in turn; figures are medians over the rounds, so load bursts hit all variants alike. ");
        sb.Append("Linears: x [M, in] bf16 · Wᵀ; NF4 = dequantize per call (into a reused buffer) + the same matmul; cached = `Nf4Linear.CacheDequantized` ");
        sb.Append("(costs the cache column in memory, per linear).\n\n");
        sb.Append(MarkdownTable.Render(["weight / input", "threads", "copy GB/s", "dequant ms", "bound ms", "dequant ÷ bound", "bf16 linear ms", "NF4 linear ms", "NF4 ÷ bf16", "cached NF4 ms", "cache MiB"],
            rows.Select(x => (IReadOnlyList<string>)[
                x.Shape, x.Threads.ToString(CultureInfo.InvariantCulture), Num(x.CopyGBps, 1), Num(x.DequantMs, 2), Num(x.DequantBoundMs, 2),
                Num(x.DequantMs / x.DequantBoundMs, 2) + "×", Num(x.Bf16LinearMs, 2), Num(x.Nf4LinearMs, 2), Num(x.Nf4LinearMs / x.Bf16LinearMs, 2) + "×",
                Num(x.Nf4CachedLinearMs, 2), MiB(x.CacheBytes)]),
            [false, true, true, true, true, true, true, true, true, true, true]));
        var paths = rows.SelectMany(x => x.DequantMsByPath.Keys).Distinct().ToList();
        if (paths.Count > 0)
        {
            sb.Append("\nDequantize by decode path (same rounds; all paths give the same bits; the widest the CPU supports is the one used):\n\n");
            sb.Append(MarkdownTable.Render(["weight", .. paths.Select(p => p + " ms"), .. paths.Select(p => p + " ÷ bound")],
                rows.Select(x => (IReadOnlyList<string>)[
                    x.Shape.Split(", x")[0],
                    .. paths.Select(p => x.DequantMsByPath.TryGetValue(p, out var ms) ? Num(ms, 2) : ""),
                    .. paths.Select(p => x.DequantMsByPath.TryGetValue(p, out var ms) ? Num(ms / x.DequantBoundMs, 2) + "×" : "")]),
                [false, .. paths.Select(_ => true), .. paths.Select(_ => true)]));
        }
        sb.Append('\n');
        return sb.ToString();
    }

    static string TrafficSection(IReadOnlyList<PipelineRun> runs)
    {
        var sb = new StringBuilder("## 4. Bytes crossing grains per token\n\n");
        sb.Append("Measured = Σ over stages of `StageStatus.BytesSent` (taps sent to the side trainer + hidden states sent on) ÷ token positions (Σ B·T, padding included). ");
        sb.Append("Formula (`GrainTraffic`, fp32 activations): stage → side 4·(H·(N+1) + E), stage → stage 4·H·(S−1). Llama-2 rows: formula only.\n\n");
        var rows = new List<IReadOnlyList<string>>();
        // Traffic does not depend on the process layout: one row per stage count.
        foreach (var x in runs.GroupBy(x => (x.Shape.Model, x.Stages)).Select(g => g.First()))
        {
            long side = GrainTraffic.StageToSidePerToken(x.Shape.Hidden, x.Shape.Layers, x.Shape.Hidden);
            long next = GrainTraffic.StageToStagePerToken(x.Shape.Hidden, x.Shape.Layers, x.Stages);
            double measured = x.BytesSent / (double)Math.Max(1, x.TokenPositions);
            rows.Add([x.Shape.Model, x.Stages.ToString(CultureInfo.InvariantCulture), Num(measured, 0), Str(side), Str(next), Str(side + next),
                Num(measured / (side + next), 3)]);
        }
        foreach (var (preset, stages) in new[] { ("llama2-7b", 4), ("llama2-13b", 4), ("llama2-70b", 8) })
        {
            var c = ModelPresets.Get(preset);
            long side = GrainTraffic.StageToSidePerToken(c), next = GrainTraffic.StageToStagePerToken(c, stages);
            rows.Add([preset, Str(stages), "", $"{Str(side)} ({side / 1e6:F2} MB)", $"{Str(next)} ({next / 1e3:F0} kB)", $"{Str(side + next)} ({(side + next) / 1e6:F2} MB)", ""]);
        }
        sb.Append(MarkdownTable.Render(["model", "stages", "measured B/token", "stage→side", "stage→stage", "formula total", "measured ÷ formula"], rows,
            [false, true, true, true, true, true, true]));
        sb.Append('\n');
        return sb.ToString();
    }

    static string Str(long v) => v.ToString(CultureInfo.InvariantCulture);

    static string PipelineSection(IReadOnlyList<PipelineRun> runs)
    {
        var sb = new StringBuilder("## 5. Pipeline scaling\n\n");
        sb.Append("Same job with S backbone stages on S one-slot silos plus the side trainer, on the `qst train --local` cluster code. ");
        sb.Append("*one process*: one silo with S slots, threads unpinned. *pinned*: one silo process per stage, stage s's process pinned to CPU s mod cores ");
        sb.Append("with sched_setaffinity (the primary, stage 0's, also hosts the job grain). Every worker uses 1 libtorch thread. ");
        sb.Append("Compute = wall-clock span per micro-batch (it grows when workers time-share a core); CPU busy = CPU seconds ÷ wall per silo process. ");
        sb.Append("Efficiency = M·max(compute) ÷ wall (1 = the bubble-free pipeline); on cores = M·max(max compute, Σ compute ÷ cores) ÷ wall ");
        sb.Append("(the bubble-free pipeline that shares this machine's cores); ideal speedup = Σ compute ÷ max compute.\n\n");
        foreach (var model in runs.GroupBy(x => x.Shape.Model))
        {
            var ordered = model.OrderBy(x => x.Mode, StringComparer.Ordinal).ThenBy(x => x.Stages).ToList();
            sb.Append("**").Append(ordered[0].Shape.Describe()).Append(CultureInfo.InvariantCulture, $", {ordered[0].Cores} cores**\n\n");
            sb.Append(MarkdownTable.Render(["layout", "stages", "micro-batches", "tokens/s", "speedup vs 1 stage", "compute ms per micro-batch (stages…, side)", "side on",
                    "utilisation", "CPU busy per process", "ideal speedup", "efficiency", "efficiency on cores"],
                ordered.Select(x =>
                {
                    var single = ordered.FirstOrDefault(o => o.Mode == x.Mode && o.Stages == 1) ?? x;
                    return (IReadOnlyList<string>)[
                        x.Mode, x.Stages.ToString(CultureInfo.InvariantCulture), x.MicroBatches.ToString(CultureInfo.InvariantCulture), Num(x.TokensPerSecond, 0),
                        Num(BenchRatios.Ratio(x.TokensPerSecond, single.TokensPerSecond), 2) + "×",
                        string.Join(", ", x.ComputePerMicroBatch.Select(c => Num(c * 1e3, 1))),
                        x.Workers.LastOrDefault()?.Replace("side on ", "", StringComparison.Ordinal) ?? "",
                        string.Join(", ", x.ComputePerMicroBatch.Select(c => Num(100 * PipelineEfficiency.Utilisation(c, x.MicroBatches, x.WallSeconds), 0) + "%")),
                        string.Join(", ", x.ProcessCpuSeconds.Select(c => Num(100 * c / x.WallSeconds, 0) + "%")),
                        Num(x.IdealSpeedup, 2) + "×", Num(x.Efficiency, 2), Num(x.EfficiencyOnCores, 2)];
                }),
                [false, true, true, true, true, false, false, false, false, true, true, true]));
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
