using System.Diagnostics;
using QstOrleans.Storage.Blobs;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Checkpoints;

/// <summary>
/// azurite's blob service, in memory, on a free 127.0.0.1 port, started once for the azurite test collection and
/// killed by its PID at the end. Found under <c>$AZURITE_DIR</c> (the folder <c>npm install azurite</c> ran in, or
/// the folder holding <c>azurite-blob</c>), else <c>deploy/azurite</c>. When it is missing every azurite test FAILS
/// with the install command (they never skip: a CI without azurite must not look green).
/// </summary>
public sealed class AzuriteFixture : IDisposable
{
    /// <summary>azurite's published development account (the well-known emulator key, not a secret).</summary>
    internal const string Account = "devstoreaccount1";
    internal const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    readonly ChildProcess _azurite;
    readonly string _workDir = Directory.CreateTempSubdirectory("qst-azurite-").FullName;

    public AzuriteFixture()
    {
        string exe = Find("azurite-blob");
        Port = EndToEnd.Loopback.FreePort();
        var clock = Stopwatch.StartNew();
        _azurite = new ChildProcess("azurite-blob", exe,
            ["--inMemoryPersistence", "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(), "--skipApiVersionCheck", "--loose"], _workDir);
        try
        {
            EndToEnd.Loopback.WaitForPort(Port, TimeSpan.FromSeconds(30), _azurite);
            StartupSeconds = clock.Elapsed.TotalSeconds;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Port { get; }
    /// <summary>Process start to port open.</summary>
    public double StartupSeconds { get; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint=http://127.0.0.1:{Port}/{Account};";

    /// <summary>A store on a new, empty container (tests never share state).</summary>
    public Task<AzureBlobStore> NewStoreAsync() => AzureBlobStore.ConnectAsync(ConnectionString, $"t{Guid.NewGuid():N}");

    /// <summary>One of azurite's executables (<c>azurite-blob</c>, <c>azurite-table</c>).</summary>
    internal static string Find(string executable)
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("AZURITE_DIR") is { Length: > 0 } dir)
        {
            candidates.Add(Path.Combine(dir, "node_modules", ".bin", executable));
            candidates.Add(Path.Combine(dir, executable));
        }
        candidates.Add(Path.Combine(RepoPaths.Root, "deploy", "azurite", "node_modules", ".bin", executable));
        return candidates.FirstOrDefault(File.Exists) ?? throw new InvalidOperationException(
            "azurite is not installed, and the Azure Blob and Table tests need it. Install it with: deploy/install-azurite.sh " +
            "(npm install azurite@3.37.0 into deploy/azurite; .ci/run does this by itself), or set AZURITE_DIR to an azurite install. " +
            $"Looked for: {string.Join(", ", candidates)}");
    }

    public void Dispose()
    {
        _azurite.Dispose();   // kills exactly this PID (in-memory: nothing to flush)
        try { Directory.Delete(_workDir, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "azurite";
}
