using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Model.Config;

namespace QstOrleans.Tests.Benchmarks;

/// <summary>Ratios, the bytes-per-token formula and the pipeline efficiency on inputs worked out here.</summary>
public sealed class HarnessTests
{
    internal static MethodRun Run(string method, long floor, long peak, double tokensPerSecond, string model = "m") => new()
    {
        Method = method,
        Shape = new BenchShape(model, 8, 16, 2, 2, 32, 1000, 4, 16, 2, "bf16"),
        RssBeforeLoad = floor, RssAfterLoad = floor + 10, PeakRssTraining = peak, TokensPerSecond = tokensPerSecond,
    };

    [Fact]
    public void RatiosAgainstQstUseTheSameModelOnly()
    {
        var runs = new[]
        {
            Run("qst", 100, 300, 900), Run("qlora", 100, 560, 300), Run("full", 100, 1500, 450),
            Run("qlora", 100, 999, 1, model: "other"),   // no QST run on "other": skipped
        };
        var ratios = BenchRatios.AgainstQst(runs);
        Assert.Equal(2, ratios.Count);
        var qlora = ratios.Single(r => r.Method == "qlora");
        Assert.Equal(560.0 / 300, qlora.PeakRatio, 12);
        Assert.Equal(460.0 / 200, qlora.AboveFloorRatio, 12);   // 2.3×
        Assert.Equal(3.0, qlora.SpeedRatio, 12);                 // QST 3× faster
        var full = ratios.Single(r => r.Method == "full");
        Assert.Equal(1400.0 / 200, full.AboveFloorRatio, 12);   // 7×
        Assert.Equal(2.0, full.SpeedRatio, 12);
        Assert.True(double.IsNaN(BenchRatios.Ratio(1, 0)));
    }

    [Fact]
    public void MeasuredActivationsAreThePeakAboveTheLoadedModelLessOptimizerAndGradients()
    {
        var run = Run("qlora", 100, 1000, 1) with { GradientBytes = 40, OptimizerBytes = 80 };
        Assert.Equal(1000 - 110 - 80 - 40, run.ActivationBytes);
        Assert.Equal(900, run.PeakAboveFloor);
    }

    [Fact]
    public void BytesPerTokenFollowTheShape()
    {
        var tiny = ModelPresets.Get("tiny");
        // 5 taps (embedding + 4 layers) and ĥ, 256 fp32 values each
        Assert.Equal(4 * 256 * 6, GrainTraffic.StageToSidePerToken(tiny));
        Assert.Equal(0, GrainTraffic.StageToStagePerToken(tiny, 1));
        Assert.Equal(3 * 1024, GrainTraffic.StageToStagePerToken(tiny, 4));
        Assert.Equal(6144 + 1024, GrainTraffic.TotalPerToken(tiny, 2));
        // Llama-2-70B: 81 taps + ĥ of 8192 fp32 → 2,686,976 B (≈2.7 MB) per token to the side network
        Assert.Equal(2_686_976, GrainTraffic.StageToSidePerToken(ModelPresets.Get("llama2-70b")));
        Assert.Throws<ArgumentOutOfRangeException>(() => GrainTraffic.StageToStagePerToken(tiny, 5));
    }

    [Fact]
    public void PipelineEfficiencyIsTheBottleneckTimeOverTheWallTime()
    {
        double[] compute = [0.1, 0.3, 0.2];
        Assert.Equal(0.75, PipelineEfficiency.Efficiency(compute, 10, 4.0), 12);   // 10 · 0.3 / 4
        Assert.Equal(2.0, PipelineEfficiency.IdealSpeedup(compute), 12);           // 0.6 / 0.3
        Assert.Equal(0.25, PipelineEfficiency.Utilisation(0.1, 10, 4.0), 12);
        Assert.Throws<ArgumentException>(() => PipelineEfficiency.IdealSpeedup([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => PipelineEfficiency.Efficiency(compute, 10, 0));
    }

    [Fact]
    public void EfficiencyOnCoresBoundsTheIdealByTheCores()
    {
        double[] compute = [0.1, 0.3, 0.2];
        // 2 cores: Σ/2 = 0.3 = max → 10 · 0.3 / 4 = 0.75; 1 core: Σ = 0.6 → 10 · 0.6 / 4 = 1.5 (workers time-share one core)
        Assert.Equal(0.75, PipelineEfficiency.EfficiencyOnCores(compute, 10, 4.0, 2), 12);
        Assert.Equal(1.5, PipelineEfficiency.EfficiencyOnCores(compute, 10, 4.0, 1), 12);
        Assert.Equal(0.75, PipelineEfficiency.EfficiencyOnCores(compute, 10, 4.0, 16), 12);  // plenty of cores: the bottleneck worker rules
        Assert.Throws<ArgumentOutOfRangeException>(() => PipelineEfficiency.EfficiencyOnCores(compute, 10, 4.0, 0));
    }
}
