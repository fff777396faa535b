using System.Text.Json;
using QstOrleans.Cli.Bench.Reports;

namespace QstOrleans.Tests.Benchmarks;

/// <summary>wire.json's schema and the formula-only records the issue asks for, and WIRE.md's tables.</summary>
public sealed class WireReportTests
{
    [Fact]
    public void FormulaOnlyRecordsCoverTheLlama2ShapesWithBothTapsAndNoMeasurements()
    {
        var records = WireReport.FormulaOnly().ToList();
        Assert.Equal(["llama2-7b/full", "llama2-7b/lean", "llama2-13b/full", "llama2-13b/lean", "llama2-70b/full", "llama2-70b/lean"],
            records.Select(r => $"{r.Shape}/{r.Taps}"));
        Assert.All(records, r => Assert.Null(r.TokensPerSecond));
        Assert.All(records, r => Assert.Null(r.WireBytesPerToken));
        Assert.All(records, r => Assert.True(r.SideOnLastStageHost));
        var big = records.Where(r => r.Shape == "llama2-70b").ToDictionary(r => r.Taps);
        Assert.Equal(8, big["lean"].Stages);
        Assert.Equal(8, big["lean"].Hosts);
        // 7 of 8 stages send their taps: 71 taps (the embedding's too) · 2 · 2 · 16 + control (8·71 + 7·16)/512.
        Assert.Equal(4544 + (8 * 71 + 7 * 16) / 512.0, big["lean"].FormulaSideBytesPerToken);
        Assert.True(big["lean"].FormulaSideBytesPerToken <= 25 * 1024);
        Assert.True(big["full"].FormulaSideBytesPerToken / big["lean"].FormulaSideBytesPerToken >= 100);
    }

    [Fact]
    public void WireJsonHasTheIssuesFieldNamesWithNullsForFormulaOnlyRecords()
    {
        var results = new WireResults { Records = [.. WireReport.FormulaOnly().Take(1)] };
        using var json = JsonDocument.Parse(BenchJson.Serialize(results));
        var record = json.RootElement.GetProperty("records")[0];
        foreach (var field in new[] { "shape", "taps", "linkMbit", "tokensPerSecond", "wireBytesPerToken", "formulaBytesPerToken", "formulaSideBytesPerToken" })
            Assert.True(record.TryGetProperty(field, out _), $"wire.json records lack '{field}'");
        Assert.Equal(JsonValueKind.Null, record.GetProperty("tokensPerSecond").ValueKind);
        Assert.Equal("llama2-7b", record.GetProperty("shape").GetString());
    }

    [Fact]
    public void MarkdownShowsMeasuredMediansWithEveryRunAndTheFormulaRatio()
    {
        var measured = WireReport.Formula(new WireShape("llama-134m", 768, 12, 768, 16), new WireLayout(2, 2, 1, 0), "full", 100) with
        {
            TokensPerSecond = WireReport.Median([400, 380, 420]), WireBytesPerToken = 25_338, TokensPerSecondRuns = [400, 380, 420],
        };
        var md = WireReport.Markdown(new WireResults { Command = "qst bench wire", Repeats = 3, Records = [measured, .. WireReport.FormulaOnly()] }, "chart.png");
        Assert.Contains("| llama-134m | full | 100 Mbit/s | 400 (400, 380, 420) | 25338 () | 24600 |", md);
        Assert.Contains("| 1.030 |", md);                        // 25338 / 24600 (full taps: nothing once per run)
        Assert.Contains("| llama2-70b | 8 | lean |", md);
        Assert.Contains("512×", md);                              // 70B full / lean stage↔side
        Assert.Contains("`qst bench wire`", md);
    }

    [Fact]
    public void MeasuredLeanRecordsAddTheOncePerRunSlicesSpreadOverTheRun()
    {
        var shape = new WireShape("llama-134m", 768, 12, 768, 16);
        var lean = WireReport.Formula(shape, new WireLayout(2, 2, 1, 0), "lean", 0, tokensPerRun: 3072);
        Assert.Equal(3080 + 448 + 72 / 512.0 + 16 + 2 * 6 * 147_456 / 3072.0, lean.FormulaRunBytesPerToken);
        Assert.Equal(new[] { 0, 1 }, lean.StageHosts);
        var again = WireReport.Recompute(lean with { TokensPerSecond = 50, FormulaBytesPerToken = 1 }, shape, 3072);
        Assert.Equal(lean.FormulaBytesPerToken, again.FormulaBytesPerToken);
        Assert.Equal(50, again.TokensPerSecond);
    }

    [Theory]
    [InlineData(new double[] { 3 }, 3)]
    [InlineData(new double[] { 5, 1, 3 }, 3)]
    [InlineData(new double[] { 4, 1, 3, 2 }, 2.5)]
    public void MedianOfRuns(double[] values, double expected) => Assert.Equal(expected, WireReport.Median(values));
}
