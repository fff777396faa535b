using System.Text.Json;
using QstOrleans.Cli.Bench.Compare;
using QstOrleans.Cli.Bench.Reports;

namespace QstOrleans.Tests.Benchmarks;

/// <summary>
/// The attention kernel in <c>qst bench compare</c>: no suffix = the engine's recompute kernel, <c>:fused</c> and <c>:eager</c>
/// (any method) the others; records carry <c>attention</c> (absent = eager: every record before session 9), labels say which
/// ran, and the paper's paragraph pairs QST with the QLoRA+gc row of the same kernel.
/// </summary>
public sealed class CompareAttentionKernelTests
{
    [Fact]
    public void TheEagerSuffixParsesOnAnyMethodAndRoundTripsThroughItsLabel()
    {
        var configs = CompareConfig.ParseList("qst, qst:eager, qlora+gc:fused, qst:heads=1:bf16-scores:eager, lora");
        Assert.Equal(["recompute", "eager", "fused", "eager", "recompute"], configs.Select(c => c.Attention));
        Assert.Equal(["qst", "qst:eager", "qlora+gc:fused", "qst:heads=1:bf16-scores:eager", "lora"], configs.Select(c => c.Label));
        Assert.Equal(configs, CompareConfig.ParseList(string.Join(',', configs.Select(c => c.Label))));
        var error = Assert.Throws<ArgumentException>(() => CompareConfig.ParseList("qst:eager:heads=1"));   // :eager goes last
        Assert.Contains("--configs", error.Message);
    }

    [Fact]
    public void ARecordWithoutTheFieldRanEagerAndIsLabelledSo()
    {
        var current = CompareSideHeadsTests.Rec("qlora", true, 0, 100, 600);
        string json = BenchJson.Serialize(new BenchResults { Command = "c", Machine = "m", Comparisons = [current] });
        using (var doc = JsonDocument.Parse(json))
            Assert.Equal("recompute", doc.RootElement.GetProperty("comparisons")[0].GetProperty("attention").GetString());
        string old = json.Replace(",\n      \"attention\": \"recompute\"", "").Replace("\"attention\": \"recompute\",", "");
        Assert.DoesNotContain("\"attention\"", old);
        var read = BenchJson.Deserialize<BenchResults>(old).Comparisons[0];
        Assert.Equal("eager", read.Attention);
        Assert.Equal("qlora+gc:eager", read.Label);
        Assert.Equal("qlora+gc", current.Label);
    }

    [Fact]
    public void ThePapersRowPairsLikeKernelWithLikeKernel()
    {
        // recompute: QST 300 tok/s, 100 MiB; qlora+gc 100 tok/s, 250 MiB → 3.00× speed, 2.50× memory.
        // eager: QST 150 tok/s, 200 MiB; qlora+gc:eager 75 tok/s, 300 MiB → 2.00×, 1.50×.
        var rows = new[]
        {
            CompareSideHeadsTests.Rec("qst", false, 0, 300, 100), CompareSideHeadsTests.Rec("qlora", true, 0, 100, 250),
            CompareSideHeadsTests.Rec("qst", false, 0, 150, 200) with { Attention = "eager" },
            CompareSideHeadsTests.Rec("qlora", true, 0, 75, 300) with { Attention = "eager" },
        };
        string paragraph = ComparePaperRow.Paragraph(rows);
        Assert.Contains("`qst`: the paper's comparison measures QST at 3.00× the speed of `qlora+gc`", paragraph);
        Assert.Contains("`qlora+gc` at 2.50× QST's memory", paragraph);
        Assert.Contains("`qst:eager`: the paper's comparison measures QST at 2.00× the speed of `qlora+gc:eager`", paragraph);
        Assert.Contains("`qlora+gc:eager` at 1.50× QST's memory", paragraph);
        // The ratio table's reference QST is the engine's (recompute): qst:eager runs at 300 ÷ 150 = 2.00× less than it.
        string md = CompareMarkdown.Section(rows);
        Assert.Contains("| qst:eager | 2.00× |", md);
    }
}
