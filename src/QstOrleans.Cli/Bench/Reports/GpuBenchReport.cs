namespace QstOrleans.Cli.Bench.Reports;

/// <summary>One method against QST on a GPU: device-memory footprint (peak above the baseline) and speed ratios.</summary>
/// <param name="MemoryRatio">The method's GPU footprint / QST's (&gt; 1: QST needs less).</param>
/// <param name="SpeedRatio">QST tokens/s / the method's (&gt; 1: QST is faster).</param>
public sealed record GpuRatio(string Method, string Model, double MemoryRatio, double SpeedRatio);

/// <summary>
/// The GPU comparison table (<c>qst bench gpu</c>): per method the trainable parameters, tokens/s and the GPU
/// footprint, and the paper's ratios against QST. Runs without GPU figures (CPU runs, failures) are left out of the ratios.
/// </summary>
public static class GpuBenchReport
{
    /// <summary>Every non-QST CUDA run against the QST run of the same model.</summary>
    public static IReadOnlyList<GpuRatio> AgainstQst(IEnumerable<MethodRun> runs, string qstMethod = "qst")
    {
        var result = new List<GpuRatio>();
        foreach (var group in runs.Where(r => r.GpuPeakAboveBaseline is not null).GroupBy(r => r.Shape.Model))
        {
            var qst = group.FirstOrDefault(r => r.Method == qstMethod);
            if (qst is null) continue;
            foreach (var other in group.Where(r => r.Method != qstMethod))
                result.Add(new GpuRatio(other.Method, group.Key,
                    BenchRatios.Ratio(other.GpuPeakAboveBaseline!.Value, qst.GpuPeakAboveBaseline!.Value),
                    BenchRatios.Ratio(qst.TokensPerSecond, other.TokensPerSecond)));
        }
        return result;
    }

    /// <summary>The Markdown report: header lines, the per-method table, then the ratios.</summary>
    public static string Render(string command, string machine, IReadOnlyList<MethodRun> runs, IReadOnlyList<string> notes)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine("# QstOrleans on a GPU: QST vs QLoRA vs LoRA vs full fine-tuning").AppendLine();
        text.AppendLine($"Command: `{command}`  ").AppendLine($"Machine: {machine}").AppendLine();
        foreach (var shape in runs.Select(r => r.Shape.Describe()).Distinct()) text.AppendLine($"- {shape}");
        text.AppendLine();
        text.AppendLine("GPU memory is what the NVIDIA driver reports in use on the device (NVML, sampled every 2 ms), above the " +
                        "baseline before the process touched the GPU: the CUDA context plus PyTorch's reserved pool, so it is ≥ the " +
                        "tensors allocated. Tokens/s: mean over the measured steps after the warm-up.").AppendLine();
        text.Append(MarkdownTable.Render(
            ["method", "device", "trainable params", "tokens/s", "s/step", "GPU after load (MiB)", "GPU peak (MiB)", "first → last loss"],
            runs.Select(r => (IReadOnlyList<string>)[
                r.Method, r.Device, r.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture), MarkdownTable.Num(r.TokensPerSecond, 0),
                MarkdownTable.Num(r.SecondsPerStep, 3),
                r.GpuAfterLoadBytes is { } a && r.GpuBaselineBytes is { } b ? MarkdownTable.MiB(a - b) : "–",
                r.GpuPeakAboveBaseline is { } p ? MarkdownTable.MiB(p) : "–",
                $"{MarkdownTable.Num(r.FirstLoss, 3)} → {MarkdownTable.Num(r.LastLoss, 3)}"]),
            [false, false, true, true, true, true, true, false]));
        text.AppendLine();
        var ratios = AgainstQst(runs);
        if (ratios.Count > 0)
        {
            text.AppendLine("Against QST (memory: the method's GPU peak / QST's; speed: QST tokens/s / the method's):").AppendLine();
            text.Append(MarkdownTable.Render(["model", "method", "memory ×", "speed ×"],
                ratios.Select(r => (IReadOnlyList<string>)[r.Model, r.Method, MarkdownTable.Num(r.MemoryRatio, 2), MarkdownTable.Num(r.SpeedRatio, 2)]),
                [false, false, true, true]));
            text.AppendLine();
        }
        foreach (var note in notes) text.AppendLine($"- {note}");
        return text.ToString();
    }
}
