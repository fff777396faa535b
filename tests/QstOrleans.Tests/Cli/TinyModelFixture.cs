using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Cli;

/// <summary>One tiny model (made by `qst make-model --preset tiny`) and synthetic dataset shared by the CLI tests.</summary>
public sealed class TinyModelFixture : IDisposable
{
    readonly TestDirectory _dir = new();

    public TinyModelFixture()
    {
        MakeModelCommand.Run("tiny", ModelDirectory, seed: 7);
        SyntheticDatasets.WriteAlpacaJsonl(DataFile, 256, seed: 7);
    }

    public string ModelDirectory => _dir["tiny"];
    public string DataFile => _dir["data.jsonl"];
    public string Scratch(string name) => _dir[name];

    public void Dispose() => _dir.Dispose();
}
