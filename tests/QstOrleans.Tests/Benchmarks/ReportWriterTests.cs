using QstOrleans.Cli.Bench.Reports;


namespace QstOrleans.Tests.Benchmarks;

/// <summary>The Markdown and JSON writers of the bench results.</summary>
public sealed class ReportWriterTests
{
    [Fact]
    public void MarkdownTableIsExact()
    {
        string table = MarkdownTable.Render(["a", "b|c"], [["1", "x\ny"], ["22", "z"]], [false, true]);
        Assert.Equal("| a | b\\|c |\n|---|---:|\n| 1 | x y |\n| 22 | z |\n", table);
        Assert.Throws<ArgumentException>(() => MarkdownTable.Render(["a", "b"], [["1"]]));
        Assert.Equal("1.5", MarkdownTable.Gb(1.5e9));
        Assert.Equal("3", MarkdownTable.MiB(3 * 1048576.0));
        Assert.Equal("–", MarkdownTable.Num(double.NaN, 2));
    }

    [Fact]
    public void ReportStartsWithItsCommandAndShowsTheRatios()
    {
        var results = new BenchResults
        {
            Command = "qst bench all --models tiny",
            Machine = "test box",
            Methods = [HarnessTests.Run("qst", 100, 300, 900), HarnessTests.Run("qlora", 100, 560, 300)],
        };
        string md = BenchMarkdown.Render(results);
        Assert.StartsWith("# QstOrleans benchmarks\n\nProduced by:\n\n```bash\nqst bench all --models tiny\n```", md);
        Assert.Contains("| m | qlora | 1.87× | 2.30× | 3.00× |", md);
    }

    [Fact]
    public void PipelineTableComparesEachLayoutWithItsOwnOneStageRunPerModel()
    {
        static PipelineRun Run(string model, string mode, int stages, double tokensPerSecond) => new()
        {
            Stages = stages, Mode = mode, Cores = 2, MicroBatches = 10, WallSeconds = 4, TokensPerSecond = tokensPerSecond,
            Shape = new BenchShape(model, 8, 16, 4, 2, 32, 1000, 4, 0, 1, "bf16"),
            ComputePerMicroBatch = [0.1, 0.3, 0.2], Workers = ["stage 0-2 on a", "stage 2-4 on b", "side on b"], ProcessCpuSeconds = [2.0, 3.0],
        };
        var results = new BenchResults
        {
            Command = "qst bench pipeline", Machine = "box",
            Pipeline = [Run("m", "pinned", 1, 100), Run("m", "pinned", 2, 150), Run("m", "one process", 1, 200), Run("m", "one process", 2, 100), Run("n", "pinned", 1, 50)],
        };
        string md = BenchMarkdown.Render(results);
        // speedup vs the same layout's 1-stage run; utilisation M·c/wall; CPU busy = CPU s / wall; efficiency 10·0.3/4; on 2 cores the same (Σ/2 = 0.3)
        Assert.Contains("| pinned | 2 | 10 | 150 | 1.50× | 100.0, 300.0, 200.0 | b | 25%, 75%, 50% | 50%, 75% | 2.00× | 0.75 | 0.75 |", md);
        Assert.Contains("| one process | 2 | 10 | 100 | 0.50× |", md);
        Assert.Equal(2, md.Split("| layout |").Length - 1); // one table per model
    }

    [Fact]
    public void JsonRoundTripsTheResults()
    {
        var results = new BenchResults
        {
            Command = "qst bench nf4", Machine = "box", Date = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
            Methods = [HarnessTests.Run("qst", 100, 300, double.NaN)],
            Nf4 = [new Nf4Result { Shape = "W [2, 64]", Threads = 2, CopyGBps = 10, DequantMs = 1, DequantBytes = 2e7 }],
        };
        string json = BenchJson.Serialize(results);
        Assert.Contains("\"command\": \"qst bench nf4\"", json);
        var back = BenchJson.Deserialize<BenchResults>(json);
        Assert.Equal(results.Command, back.Command);
        Assert.Equal(results.Date, back.Date);
        // Field by field through JSON: record equality would compare the per-step list by reference.
        Assert.Equal(BenchJson.Serialize(results.Methods[0]), BenchJson.Serialize(back.Methods[0]));
        Assert.True(double.IsNaN(back.Methods[0].TokensPerSecond));
        Assert.Equal(2.0, back.Nf4[0].DequantBoundMs, 12);   // 2e7 B at 10 GB/s
    }
}
