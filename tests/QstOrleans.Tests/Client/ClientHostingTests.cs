using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Client;

namespace QstOrleans.Tests.Client;

/// <summary>
/// A client connecting through a gateway like an app: an app's own host with <c>AddQstClient</c> (its logging receives
/// the Orleans client's log), <see cref="QstClient.ConnectAsync"/> with an idempotent dispose, and the job errors crossing
/// the wire as their own types.
/// </summary>
[Collection(LocalSiloCollection.Name)]
public sealed class ClientHostingTests(LocalSiloFixture silo)
{
    [Fact]
    public async Task AnAppHostGetsAClientThatUsesItsLogging()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var logged = new RecordingLoggerProvider();
        builder.Logging.AddProvider(logged);
        builder.AddQstClient(silo.Options);
        using var host = builder.Build();
        await host.StartAsync();
        var client = host.Services.GetRequiredService<QstClient>();
        Assert.Single(await client.SlotsAsync());
        var missing = await Assert.ThrowsAsync<JobNotFoundException>(() => client.StatusAsync("no-such-job"));
        Assert.Equal("no-such-job", missing.JobId);
        Assert.Contains(logged.Categories, c => c.StartsWith("Orleans", StringComparison.Ordinal));
        await client.DisposeAsync();   // the host owns the connection: the client's dispose leaves it usable
        Assert.Single(await client.SlotsAsync());
        await host.StopAsync();
    }

    [Fact]
    public async Task ConnectedClientDisposesOnceHoweverOftenItIsCalled()
    {
        var client = await QstClient.ConnectAsync(silo.Options);
        Assert.Single(await client.SlotsAsync());
        await Assert.ThrowsAsync<JobNotFoundException>(() => client.CancelAsync("nothing-here"));
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => client.DisposeAsync().AsTask()));
        await client.DisposeAsync();
    }

    [Fact]
    public async Task AWrongClusterIdIsNotAccepted()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<QstConnectionException>(() =>
            QstClient.ConnectAsync(silo.Options with { ClusterId = "another-cluster", ServiceId = "qst-local", ConnectTimeout = TimeSpan.FromSeconds(5) }));
        Assert.Equal(ConnectionProblem.NotAccepted, e.Problem);
        Assert.Contains("--cluster-id", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
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
