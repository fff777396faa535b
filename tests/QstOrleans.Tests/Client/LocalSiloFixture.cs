using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Data.Datasets;
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
        MakeModelCommand.Run("tiny", ModelDirectory, seed: 11);
        SyntheticDatasets.WriteAlpacaJsonl(DataFile, 32, seed: 11);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo => silo.AddQstLocal(new LocalSiloOptions
        {
            StateDirectory = Path.Combine(_state, "state"), Devices = ["cpu:0"], SiloPort = Loopback.FreePort(), GatewayPort = GatewayPort, ClusterId = ClusterId,
        }));
        _host = builder.Build();
        await _host.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync(TimeSpan.FromSeconds(10));
            _host.Dispose();
        }
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { }
    }
}

/// <summary>The classes sharing one <see cref="LocalSiloFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class LocalSiloCollection : ICollectionFixture<LocalSiloFixture>
{
    public const string Name = "local-silo";
}
