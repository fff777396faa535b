using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Client;
using QstOrleans.Tests.Distributed;

namespace QstOrleans.Tests.Client;

/// <summary>
/// A client outside the silos' process-wide test client: an app's own host with <c>AddQstClient</c> (its logging receives
/// the Orleans client's log), <see cref="QstClient.ConnectAsync"/> with an idempotent dispose, and the job errors crossing
/// the wire as their own types.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClientHostingTests(ClusterFixture cluster)
{
    QstClientOptions Options => new()
    {
        GatewayPorts = cluster.Cluster.GetActiveSilos().Select(s => s.GatewayAddress.Endpoint.Port).ToList(),
        ClusterId = cluster.Cluster.Options.ClusterId, ServiceId = cluster.Cluster.Options.ServiceId,
        ConnectTimeout = TimeSpan.FromSeconds(30),
    };

    [Fact]
    public async Task AnAppHostGetsAClientThatUsesItsLogging()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var logged = new RecordingLoggerProvider();
        builder.Logging.AddProvider(logged);
        builder.AddQstClient(Options);
        using var host = builder.Build();
        await host.StartAsync();
        var client = host.Services.GetRequiredService<QstClient>();
        Assert.Equal(ClusterFixture.Silos, (await client.SlotsAsync()).Count);
        var missing = await Assert.ThrowsAsync<JobNotFoundException>(() => client.StatusAsync("no-such-job"));
        Assert.Equal("no-such-job", missing.JobId);
        Assert.Contains(logged.Categories, c => c.StartsWith("Orleans", StringComparison.Ordinal));
        await client.DisposeAsync();   // the host owns the connection: the client's dispose leaves it usable
        Assert.Equal(ClusterFixture.Silos, (await client.SlotsAsync()).Count);
        await host.StopAsync();
    }

    [Fact]
    public async Task ConnectedClientDisposesOnceHoweverOftenItIsCalled()
    {
        var client = await QstClient.ConnectAsync(Options);
        Assert.Equal(ClusterFixture.Silos, (await client.SlotsAsync()).Count);
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => client.DisposeAsync().AsTask()));
        await client.DisposeAsync();
    }

    sealed class RecordingLoggerProvider : ILoggerProvider
    {
        readonly System.Collections.Concurrent.ConcurrentBag<string> _categories = [];
        public IReadOnlyCollection<string> Categories => _categories;
        public ILogger CreateLogger(string categoryName)
        {
            _categories.Add(categoryName);
            return Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        }
        public void Dispose() { }
    }
}
