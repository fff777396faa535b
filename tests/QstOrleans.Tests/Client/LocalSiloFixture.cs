using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Client;
using QstOrleans.Grains.Hosting;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Client;

/// <summary>
/// One real silo with localhost clustering on free ports (as <c>qst train --local</c> runs it), for clients that connect
/// through a gateway like an app does (the test cluster's silos do not take outside clients).
/// </summary>
public sealed class LocalSiloFixture : IAsyncLifetime
{
    readonly string _state = Directory.CreateTempSubdirectory("qst-client-silo-").FullName;
    IHost? _host;

    public string ClusterId { get; } = $"client-{Guid.NewGuid():N}"[..20];
    public int GatewayPort { get; } = Loopback.FreePort();

    /// <summary>Options that reach this silo.</summary>
    public QstClientOptions Options => new()
    {
        GatewayPorts = [GatewayPort], ClusterId = ClusterId, ServiceId = LocalSiloHost.ServiceId, ConnectTimeout = TimeSpan.FromSeconds(60),
    };

    /// <summary>A tiny model and a small dataset the silo can train on.</summary>
    public string ModelDirectory => Path.Combine(_state, "tiny");
    public string DataFile => Path.Combine(_state, "data.jsonl");

    public async Task InitializeAsync()
    {
        InProcessSilo.WriteTinyInputs(ModelDirectory, DataFile);
        _host = await InProcessSilo.StartAsync(new LocalSiloOptions
        {
            StateDirectory = Path.Combine(_state, "state"), Devices = ["cpu:0"], SiloPort = Loopback.FreePort(), GatewayPort = GatewayPort, ClusterId = ClusterId,
        }, logging => logging.SetMinimumLevel(LogLevel.Warning));
    }

    public Task DisposeAsync() => InProcessSilo.StopAsync(_host, _state);
}

/// <summary>The classes sharing one <see cref="LocalSiloFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class LocalSiloCollection : ICollectionFixture<LocalSiloFixture>
{
    public const string Name = "local-silo";
}
