using System.Diagnostics;
using QstOrleans.Tests.Checkpoints;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Persistence;

/// <summary>
/// azurite's blob AND table services (<see cref="AzuriteFixture"/> for blobs, plus <c>azurite-table</c>), in memory on free
/// 127.0.0.1 ports, with one connection string that names both endpoints (what Orleans' Azure providers and the
/// checkpoint store read). Both are killed by their PIDs and their temp folders deleted in <see cref="Dispose"/>. Fails
/// (never skips) when azurite is not installed, with the install command.
/// </summary>
public sealed class AzuriteTablesFixture : IDisposable
{
    readonly AzuriteFixture _blobs = new();
    readonly ChildProcess _tables;
    readonly string _workDir = Directory.CreateTempSubdirectory("qst-azurite-table-").FullName;

    public AzuriteTablesFixture()
    {
        try
        {
            TablePort = Loopback.FreePort();
            var clock = Stopwatch.StartNew();
            _tables = new ChildProcess("azurite-table", AzuriteFixture.Find("azurite-table"),
                ["--inMemoryPersistence", "--tableHost", "127.0.0.1", "--tablePort", TablePort.ToString(), "--skipApiVersionCheck", "--loose"], _workDir);
            Loopback.WaitForPort(TablePort, TimeSpan.FromSeconds(30), _tables);
            StartupSeconds = _blobs.StartupSeconds + clock.Elapsed.TotalSeconds;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int TablePort { get; }
    public double StartupSeconds { get; }

    /// <summary>The development account on both endpoints (azurite's well-known key, not a secret).</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AzuriteFixture.Account};AccountKey={AzuriteFixture.Key};" +
        $"BlobEndpoint=http://127.0.0.1:{_blobs.Port}/{AzuriteFixture.Account};TableEndpoint=http://127.0.0.1:{TablePort}/{AzuriteFixture.Account};";

    public void Dispose()
    {
        _tables?.Dispose();   // kills exactly this PID
        _blobs.Dispose();
        try { Directory.Delete(_workDir, recursive: true); } catch (IOException) { }
    }
}
