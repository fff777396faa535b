using System.Text.Json;
using QstOrleans.Cli.Bench.Compare;
using QstOrleans.Cli.Bench.Reports;

namespace QstOrleans.Tests.Benchmarks;

/// <summary><c>qst bench compare</c>'s arithmetic: interleaving order, medians, the record others read, merging into results.json.</summary>
public sealed class CompareTests
{
    static readonly BenchShape Shape = new("llama-134m", 768, 2048, 12, 12, 32000, 134_105_856, 4, 128, 2, "bf16");

    static MethodRun Round(double[] steps, long afterLoad, long peak, float firstLoss = 10.5f) => new()
    {
        Method = "qlora", GradientCheckpointing = true, Shape = Shape, Steps = steps.Length, StepTokensPerSecond = steps,
        TokensPerSecond = steps.Average(), RssBeforeLoad = 100, RssAfterLoad = afterLoad, PeakRssTraining = peak,
        TrainableParameters = 1234, FirstLoss = firstLoss, LastLoss = 10.25f,
    };

    [Fact]
    public void ProcessesRunRoundByRoundEachRoundStartingOneConfigurationLater()
    {
        var configs = CompareConfig.ParseList("qst,qlora,qlora+gc");
        var order = CompareRounds.Schedule(configs, rounds: 2);
        Assert.Equal(["qst", "qlora", "qlora+gc", "qlora", "qlora+gc", "qst"], order.Select(x => x.Config.Label));
        Assert.Equal([0, 0, 0, 1, 1, 1], order.Select(x => x.Round));
        Assert.True(order[2].Config.GradientCheckpointing);
        Assert.False(order[1].Config.GradientCheckpointing);
        Assert.True(order[4].Config.GradientCheckpointing);
    }

    [Fact]
    public void MedianOfAnOddCountIsTheMiddleAndOfAnEvenCountTheMeanOfTheTwoMiddles()
    {
        Assert.Equal((3.0, 1.0, 9.0), CompareRounds.Summary([9, 1, 3]));
        Assert.Equal((2.5, 1.0, 9.0), CompareRounds.Summary([9, 2, 1, 3]));
        Assert.Throws<ArgumentException>(() => CompareRounds.Summary([]));
    }

    [Fact]
    public void ARecordTakesTheMedianOverEveryStepOfEveryRound()
    {
        var rounds = new[] { Round([10, 30, 20], afterLoad: 1000, peak: 1500), Round([40, 60, 50], afterLoad: 1100, peak: 1900, firstLoss: 99) };
        var r = CompareRounds.Summarize(new CompareConfig("qlora", true), rounds, [2, 7], "qst bench compare …", DateTimeOffset.UnixEpoch, "1 / 2 / 3");
        // all six steps sorted: 10 20 30 40 50 60 → median (30 + 40) / 2; not the median of the two round means (20, 50 → 35 as well), so also:
        Assert.Equal(35, r.TokensPerSecond);
        Assert.Equal(10, r.TokensPerSecondMin);
        Assert.Equal(60, r.TokensPerSecondMax);
        Assert.Equal(6, r.StepsTimed);
        Assert.Equal(2, r.Rounds);
        Assert.Equal(1700, r.PeakRssTraining);       // (1500 + 1900) / 2
        Assert.Equal(1500, r.PeakRssTrainingMin);
        Assert.Equal(1900, r.PeakRssTrainingMax);
        Assert.Equal(650, r.PeakAboveLoad);          // median of 500 and 800
        Assert.Equal(1600, r.PeakAboveFloor);        // median of 1400 and 1800
        Assert.Equal(10.5f, r.FirstLoss);            // the first round's
        Assert.Equal([2, 7], r.Positions);
        Assert.Equal("qlora+gc", r.Label);

        // Uneven rounds: the median is over steps, so it differs from the median of the round means.
        var uneven = CompareRounds.Summarize(new CompareConfig("qlora", true), [Round([1, 2, 3, 100], 0, 1), Round([4], 0, 1)], [0, 1], "", default, "");
        Assert.Equal(3, uneven.TokensPerSecond);     // 1 2 3 4 100
        Assert.Equal(5, uneven.StepsTimed);
    }

    [Fact]
    public void MinorFaultsPerStepAreTheMedianOverRoundsAndAbsentWhenARoundLacksThem()
    {
        MethodRun Faulting(double? faults) => Round([10], 0, 1) with { MinorFaultsPerStep = faults };
        var r = CompareRounds.Summarize(new CompareConfig("qst", false), [Faulting(19390), Faulting(64), Faulting(806)], [0, 1, 2], "", default, "");
        Assert.Equal(806, r.MinorFaultsPerStep);
        using var json = JsonDocument.Parse(BenchJson.Serialize(new BenchResults { Command = "c", Machine = "m", Comparisons = [r] }));
        Assert.Equal(806, json.RootElement.GetProperty("comparisons")[0].GetProperty("minorFaultsPerStep").GetDouble());
        // A round that did not count (off Linux, an older child) leaves the figure out rather than a median of fewer rounds.
        Assert.Null(CompareRounds.Summarize(new CompareConfig("qst", false), [Faulting(64), Faulting(null)], [0, 1], "", default, "").MinorFaultsPerStep);
    }

    [Fact]
    public void TheRecordCarriesTheFieldsOtherToolsRead()
    {
        var r = CompareRounds.Summarize(new CompareConfig("qlora", true), [Round([10, 30, 20], 1000, 1500)], [0], "cmd", DateTimeOffset.UnixEpoch, "");
        using var json = JsonDocument.Parse(BenchJson.Serialize(new BenchResults { Command = "c", Machine = "m", Comparisons = [r] }));
        var record = json.RootElement.GetProperty("comparisons")[0];
        Assert.Equal("qlora", record.GetProperty("method").GetString());
        Assert.True(record.GetProperty("gradientCheckpointing").GetBoolean());
        Assert.Equal(134_105_856, record.GetProperty("shape").GetProperty("parameters").GetInt64());
        Assert.Equal(768, record.GetProperty("shape").GetProperty("hidden").GetInt32());
        Assert.Equal(20, record.GetProperty("tokensPerSecond").GetDouble());
        Assert.Equal(1500, record.GetProperty("peakRssTraining").GetInt64());
        Assert.Equal(3, record.GetProperty("stepsTimed").GetInt32());
        Assert.Equal(10, record.GetProperty("tokensPerSecondMin").GetDouble());
        Assert.Equal(30, record.GetProperty("tokensPerSecondMax").GetDouble());
    }

    [Fact]
    public void MergingReplacesTheSameShapesRecordsAndKeepsEverythingElse()
    {
        ComparedRun Rec(string method, BenchShape shape, double speed) => new() { Method = method, Shape = shape, TokensPerSecond = speed, Attention = "recompute" };
        var other = Shape with { Model = "llama-1b", Batch = 1, Sequence = 256 };
        var existing = new BenchResults
        {
            Command = "qst bench all", Machine = "m",
            Methods = [HarnessTests.Run("qst", 1, 2, 3)],
            Comparisons = [Rec("qst", Shape, 1), Rec("lora", Shape, 2), Rec("qst", other, 3)],
        };
        var merged = CompareRounds.Merge(existing, [Rec("qst", Shape, 10)]);
        Assert.Equal([3.0, 10.0], merged.Comparisons.Select(c => c.TokensPerSecond));   // the old 134M records go, the 1B one stays
        Assert.Single(merged.Methods);
        Assert.Equal("qst bench all", merged.Command);
        // The file round-trips through JSON with both sections.
        var back = BenchJson.Deserialize<BenchResults>(BenchJson.Serialize(merged));
        Assert.Equal(2, back.Comparisons.Count);
        Assert.Equal("llama-1b", back.Comparisons[0].Shape.Model);
    }

    [Theory]
    [InlineData("qst+gc", "QST keeps no backbone graph")]
    [InlineData("qst,sgd", "unknown method 'sgd'")]
    [InlineData("lora,lora", "listed twice")]
    [InlineData(",", "no configuration")]
    public void BadConfigurationsAreRefusedNamingTheOption(string text, string why)
    {
        var e = Assert.Throws<ArgumentException>(() => CompareConfig.ParseList(text));
        Assert.Contains("--configs", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void TheReportShowsMediansRatiosAndWhichRowIsThePapers()
    {
        ComparedRun Rec(string method, bool gc, double speed, long aboveLoad) =>
            new() { Method = method, GradientCheckpointing = gc, Shape = Shape, TokensPerSecond = speed, PeakRssTraining = aboveLoad + 1000, PeakAboveLoad = aboveLoad, PeakAboveFloor = aboveLoad + 500, Attention = "recompute" };
        string md = CompareMarkdown.Section([Rec("qst", false, 300, 100 << 20), Rec("qlora", true, 100, 250 << 20)]);
        Assert.Contains("| qlora+gc |", md);
        Assert.Contains("| 3.00× |", md);              // QST 300 ÷ 100 tokens/s
        Assert.Contains("| 2.50× |", md);              // 250 MiB ÷ 100 MiB above load
        Assert.Contains("so its table is QST against the `qlora+gc` rows", md);
        Assert.Contains("`qst`: the paper's comparison measures QST at 3.00× the speed of `qlora+gc`", md);   // computed, not fixed text
        Assert.Contains("llama2-70b", md);
    }

    [Fact]
    public void AModelFolderNamedOtherwiseIsMatchedToItsPresetByShape()
    {
        var folder = Shape with { Model = "my-copy-of-134m" };
        ComparedRun Rec(string method, bool gc) => new() { Method = method, GradientCheckpointing = gc, Shape = folder, TokensPerSecond = 1, PeakAboveFloor = 1 << 20, Attention = "recompute" };
        string md = CompareMarkdown.Section([Rec("qst", false), Rec("qlora", true)]);
        double ceiling = FlopCeiling.VersusQst(QstOrleans.Model.Config.ModelPresets.Get("llama-134m"), "qlora", true, 128);
        Assert.Contains($"| {ceiling.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)}× |", md);
        Assert.Contains("| my-copy-of-134m | 4 × 128 | qlora+gc |", md);   // and the memory model checked it
    }
}
