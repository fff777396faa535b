using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Tests.Cli;

namespace QstOrleans.Tests.DataScale;

/// <summary>
/// Parquet data: the committed fixtures (Alpaca, text, chat messages; several row groups) give exactly the examples of
/// the same records written as JSONL, and a bad row is named by its row number.
/// </summary>
public sealed class ParquetFixtureTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    static void AssertSameExamples(InstructionBatches expected, InstructionBatches actual)
    {
        Assert.Equal(expected.ExampleCount, actual.ExampleCount);
        for (int i = 0; i < expected.ExampleCount; i++)
        {
            Assert.Equal(expected.Examples[i].InputIds, actual.Examples[i].InputIds);
            Assert.Equal(expected.Examples[i].Labels, actual.Examples[i].Labels);
        }
    }

    [Theory]
    [InlineData("alpaca", DatasetFormat.Alpaca)]
    [InlineData("text", DatasetFormat.Text)]
    [InlineData("chat", DatasetFormat.Chat)]
    public void CommittedParquetGivesTheExamplesOfTheSameJsonl(string kind, DatasetFormat format)
    {
        string parquet = Path.Combine(ParquetFixtures.SourceFolder, kind + ".parquet");
        string jsonl = Path.Combine(ParquetFixtures.SourceFolder, kind + ".jsonl");
        var fromParquet = DatasetLoader.Load(parquet);
        var fromJsonl = DatasetLoader.Load(jsonl);
        Assert.Equal(format, fromParquet.Format);
        Assert.Equal(fromJsonl.Kept, fromParquet.Kept);
        Assert.Equal(fromJsonl.Records.Select(r => r.Line), fromParquet.Records.Select(r => r.Line));   // row n = line n

        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        AssertSameExamples(InstructionBatches.Load(jsonl, tokenizer, new DataOptions(), 4, 1, tiny.ModelDirectory),
            InstructionBatches.Load(parquet, tokenizer, new DataOptions(), 4, 1, tiny.ModelDirectory));
    }

    [Theory]
    [InlineData("alpaca")]
    [InlineData("text")]
    [InlineData("chat")]
    public void TheGeneratorMakesTheCommittedFixture(string kind)
    {
        ParquetFixtures.Write(_dir.Path, kind);
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var fresh = InstructionBatches.Load(_dir[kind + ".parquet"], tokenizer, new DataOptions(), 4, 1, tiny.ModelDirectory);
        if (Environment.GetEnvironmentVariable("QST_WRITE_FIXTURES") == "1") ParquetFixtures.Write(ParquetFixtures.SourceFolder, kind);
        var committed = InstructionBatches.Load(Path.Combine(ParquetFixtures.SourceFolder, kind + ".parquet"), tokenizer, new DataOptions(), 4, 1,
            tiny.ModelDirectory);
        Assert.Equal(ParquetFixtures.Rows(kind).Count, fresh.ExampleCount);
        AssertSameExamples(fresh, committed);
    }

    [Fact]
    public void ABadRowIsNamedByItsRowNumber()
    {
        var rows = ParquetFixtures.Rows("alpaca");
        rows[37]["output"] = "  ";
        ParquetFixtures.Write(_dir.Path, "alpaca", rows);
        string file = _dir["alpaca.parquet"];

        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.Load(file));
        Assert.Equal(38, e.Line);
        Assert.Equal("field 'output' is empty", e.Problem);
        var skipped = DatasetLoader.Load(file, skipInvalid: true);
        Assert.Equal(rows.Count - 1, skipped.Kept);
        Assert.Equal(38, Assert.Single(skipped.Dropped).Line);
    }

    [Fact]
    public void AFileThatIsNotParquetIsRefusedNamingIt()
    {
        string file = _dir.Write("broken.parquet", "{\"text\": \"not parquet\"}\n");
        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.Load(file));
        Assert.StartsWith($"{file}:1: not a readable Parquet file", e.Message);
    }
}
