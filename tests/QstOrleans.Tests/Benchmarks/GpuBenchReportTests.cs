using QstOrleans.Cli.Bench.Reports;


namespace QstOrleans.Tests.Benchmarks;

/// <summary>The GPU comparison's ratios and table on inputs worked out here.</summary>
public sealed class GpuBenchReportTests
{
    static MethodRun Gpu(string method, long baseline, long peak, double tokensPerSecond, string model = "m") =>
        HarnessTests.Run(method, 100, 200, tokensPerSecond, model) with
        {
            Device = "cuda:0", GpuBaselineBytes = baseline, GpuAfterLoadBytes = baseline + 10, GpuPeakBytes = peak,
        };

    [Fact]
    public void RatiosUseTheGpuFootprintAboveTheBaseline()
    {
        var runs = new[]
        {
            Gpu("qst", 500, 1500, 800),          // footprint 1000
            Gpu("qlora", 500, 2800, 400),        // footprint 2300: 2.3×, QST 2× faster
            Gpu("full", 0, 7000, 1600),          // footprint 7000: 7×, QST 0.5×
            HarnessTests.Run("lora", 100, 200, 5),   // a CPU run: no GPU figures, left out
            Gpu("qlora", 0, 10, 1, model: "other"),  // no QST on "other": skipped
        };
        var ratios = GpuBenchReport.AgainstQst(runs);
        Assert.Equal(2, ratios.Count);
        var qlora = ratios.Single(r => r.Method == "qlora");
        Assert.Equal(2.3, qlora.MemoryRatio, 12);
        Assert.Equal(2.0, qlora.SpeedRatio, 12);
        var full = ratios.Single(r => r.Method == "full");
        Assert.Equal(7.0, full.MemoryRatio, 12);
        Assert.Equal(0.5, full.SpeedRatio, 12);
    }

    [Fact]
    public void ReportShowsFootprintsInMiBAndTheRatios()
    {
        var runs = new[] { Gpu("qst", 1L << 20, 9L << 20, 800), Gpu("qlora", 1L << 20, 19L << 20, 400) };
        string text = GpuBenchReport.Render("qst bench gpu", "test GPU", runs, ["note one"]);
        Assert.Contains("| qst | cuda:0 |", text);
        Assert.Contains("| 8 |", text);      // qst: 9 MiB peak − 1 MiB baseline
        Assert.Contains("| 18 |", text);     // qlora: 19 − 1
        Assert.Contains("| m | qlora | 2.25 | 2.00 |", text);
        Assert.Contains("- note one", text);
    }
}
