using Orleans.TestingHost;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.Distributed;

/// <summary>
/// An in-process Orleans cluster of three silos, each declaring one CPU device slot, plus a tiny model and
/// a synthetic dataset. Shared by the distributed tests (deploying a cluster costs a few seconds).
/// </summary>
public sealed class ClusterFixture : IDisposable
{
    public const int Silos = 3;
    readonly string _root = Directory.CreateTempSubdirectory("qst-cluster-").FullName;

    public ClusterFixture()
    {
        MakeModelCommand.Run("tiny", ModelDirectory, seed: 11);
        SyntheticDatasets.WriteAlpacaJsonl(DataFile, 96, seed: 11);
        Cluster = QstTestSilo.Build(Silos, _root, durableState: false);
    }

    public TestCluster Cluster { get; }
    public IGrainFactory Grains => Cluster.Client;
    public string ModelDirectory => Path.Combine(_root, "tiny");
    public string DataFile => Path.Combine(_root, "data.jsonl");
    public string Scratch(string name) => Path.Combine(_root, name);

    public void Dispose()
    {
        Cluster.StopAllSilos();
        Cluster.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "orleans-cluster";
}
