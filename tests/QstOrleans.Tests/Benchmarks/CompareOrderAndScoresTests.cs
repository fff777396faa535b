using QstOrleans.Model.Attention;
using QstOrleans.Model.Layers;
using System.Text.Json;
using QstOrleans.Configuration;
using QstOrleans.Cli.Bench.Compare;
using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Model.Config;
using QstOrleans.Model.Qst;

namespace QstOrleans.Tests.Benchmarks;

/// <summary>
/// <c>qst bench compare</c>'s rotated order (round r starts at configuration r mod n, so no configuration always runs first)
/// and QST with bf16 side attention scores as a compared configuration (<c>qst:bf16-scores</c>).
/// </summary>
public sealed class CompareOrderAndScoresTests
{
    static readonly BenchShape Shape = CompareSideHeadsTests.Shape;

    [Fact]
    public void OverNRoundsEveryConfigurationRunsOnceInEverySlotOfARound()
    {
        var configs = CompareConfig.ParseList("qst,qst:heads=1,qlora+gc,qlora");
        var order = CompareRounds.Schedule(configs, rounds: 4);
        Assert.Equal(16, order.Count);
        Assert.Equal(["qst", "qst:heads=1", "qlora+gc", "qlora"], order.Take(4).Select(x => x.Config.Label));          // round 1 as given
        Assert.Equal(["qlora", "qst", "qst:heads=1", "qlora+gc"], order.Skip(12).Select(x => x.Config.Label));     // round 4 starts at the 4th
        // Slot k of round r: over the 4 rounds each configuration fills each slot exactly once (a Latin square), so none is
        // always first (the model freshly written, page cache warm) or always last.
        for (int slot = 0; slot < 4; slot++)
            Assert.Equal(configs.ToHashSet(), Enumerable.Range(0, 4).Select(r => order[r * 4 + slot].Config).ToHashSet());
        // Every round still runs every configuration once.
        foreach (var round in order.GroupBy(x => x.Round)) Assert.Equal(configs.ToHashSet(), round.Select(x => x.Config).ToHashSet());
        // More rounds than configurations wrap around: round 5 is round 1's order again.
        var six = CompareRounds.Schedule(configs, rounds: 5);
        Assert.Equal(six.Take(4).Select(x => x.Config), six.Skip(16).Select(x => x.Config));
    }

    [Fact]
    public void Bf16ScoresSuffixParsesAloneAndAfterAHeadCount()
    {
        var configs = CompareConfig.ParseList("qst, qst:bf16-scores, qst:heads=1:bf16-scores, qst-cached:bf16-scores");
        Assert.Equal(["qst", "qst:bf16-scores", "qst:heads=1:bf16-scores", "qst-cached:bf16-scores"], configs.Select(c => c.Label));
        Assert.Equal([false, true, true, true], configs.Select(c => c.SideScoresBf16));
        Assert.Equal([0, 0, 1, 0], configs.Select(c => c.SideHeads));
        Assert.Equal(["qst", "qst", "qst", "qst-cached"], configs.Select(c => c.Method));
        // The label parses back to the same configuration (it is what RESULTS.md prints and --configs accepts).
        Assert.Equal(configs, CompareConfig.ParseList(string.Join(',', configs.Select(c => c.Label))));
    }

    [Fact]
    public void TheRecordCarriesBf16ScoresTheRatiosAreAgainstTheDefaultsQstAndTheModelUsesIt()
    {
        var round = new MethodRun { Method = "qst", Shape = Shape, Steps = 2, StepTokensPerSecond = [10, 20], TokensPerSecond = 15, PeakRssTraining = 9, RssAfterLoad = 4 };
        var r = CompareRounds.Summarize(new CompareConfig("qst", false, 0, SideScoresBf16: true), [round], [1], "cmd", DateTimeOffset.UnixEpoch, "");
        Assert.Equal("qst:bf16-scores", r.Label);
        using (var json = JsonDocument.Parse(BenchJson.Serialize(new BenchResults { Command = "c", Machine = "m", Comparisons = [r] })))
            Assert.True(json.RootElement.GetProperty("comparisons")[0].GetProperty("sideScoresBf16").GetBoolean());
        // A record written before the field existed ran fp32 scores.
        string old = BenchJson.Serialize(new BenchResults { Command = "c", Machine = "m", Comparisons = [r with { SideScoresBf16 = false }] })
            .Replace(",\n      \"sideScoresBf16\": false", "").Replace("\"sideScoresBf16\": false,", "");
        Assert.DoesNotContain("sideScoresBf16", old);
        Assert.False(BenchJson.Deserialize<BenchResults>(old).Comparisons[0].SideScoresBf16);

        // Ratios are against the QST the training default runs (qst.side_scores_bf16 = true since session 8, the 300 tok/s row),
        // wherever it is listed: the fp32-scores row runs at 300 ÷ 200 = 1.50× less, qlora+gc at 3.00× less.
        var rows = new[]
        {
            // bf16 scores act on the eager kernel only (the fused one keeps no scores): eager rows, as measured before session 9.
            CompareSideHeadsTests.Rec("qst", false, 0, 200, 400) with { Attention = "eager" },
            CompareSideHeadsTests.Rec("qst", false, 0, 300, 350) with { SideScoresBf16 = true, Attention = "eager" },
            CompareSideHeadsTests.Rec("qlora", true, 0, 100, 600) with { Attention = "eager" },
        };
        Assert.True(TrainingConfig.Defaults.Qst.SideScoresBf16);
        string md = CompareMarkdown.Section(rows);
        Assert.Contains("| qst:eager | 1.50× |", md);
        Assert.Contains("| qlora+gc:eager | 3.00× |", md);
        string ratioTable = md.Split("Against QST")[1].Split("\n\n")[1];
        Assert.Contains("| qst:eager | 1.50× |", ratioTable);
        Assert.DoesNotContain("| qst:bf16-scores:eager | ", ratioTable);                     // the reference lists no ratio to itself
        // Without a row of the default's dtype, the other is the reference: qlora+gc at 200 ÷ 100 = 2.00×.
        Assert.Contains("| qlora+gc:eager | 2.00× |", CompareMarkdown.Section([rows[0], rows[2]]));
        // The memory-model row of each QST variant is the model with that variant's scores; bf16 scores model smaller.
        var preset = ModelPresets.Get("llama-134m");
        double fp32 = MemoryModel.Estimate(preset, BenchMethod.Qst, 4, 128, new QstConfig { SideScoresBf16 = false }, engine: EngineLevers.Current(false) with { Attention = AttentionKernel.Eager }).Total;
        double bf16 = MemoryModel.Estimate(preset, BenchMethod.Qst, 4, 128, new QstConfig { SideScoresBf16 = true }, engine: EngineLevers.Current(false) with { Attention = AttentionKernel.Eager }).Total;
        Assert.True(bf16 < fp32);
        Assert.Contains($"| llama-134m | 4 × 128 | qst:eager | {MarkdownTable.MiB(fp32)} |", md);
        Assert.Contains($"| llama-134m | 4 × 128 | qst:bf16-scores:eager | {MarkdownTable.MiB(bf16)} |", md);
    }
}
