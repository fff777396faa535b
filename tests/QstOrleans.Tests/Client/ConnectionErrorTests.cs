using System.Diagnostics;
using QstOrleans.Client;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Client;

/// <summary>
/// The cases that used to be one 10–30 s timeout are distinct <see cref="QstConnectionException"/>s within seconds: Redis
/// refusing the connection, a Redis without the cluster id (listing the clusters it has), nothing on the gateway port.
/// </summary>
public sealed class ConnectionErrorTests
{
    static readonly TimeSpan Fast = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task RedisRefusingTheConnectionIsReportedAtOnce()
    {
        int port = Loopback.FreePort();   // nothing listens there
        var (e, took) = await Connect(new QstClientOptions { RedisConnectionString = $"127.0.0.1:{port}" });
        Assert.Equal(ConnectionProblem.ClusteringStoreUnreachable, e.Problem);
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        Assert.True(took < Fast, $"took {took}");
    }

    [Fact]
    public async Task AClusterIdRedisDoesNotKnowIsNamed()
    {
        using var work = new TestDirectory();
        var (redis, port) = Loopback.StartRedis(work.Path);
        using (redis)
        {
            var (e, took) = await Connect(new QstClientOptions { RedisConnectionString = $"127.0.0.1:{port}", ClusterId = "no-such-cluster" });
            Assert.Equal(ConnectionProblem.UnknownCluster, e.Problem);
            Assert.Contains("'no-such-cluster'", e.Message);
            Assert.Contains("--cluster-id", e.Message);
            Assert.True(took < Fast, $"took {took}");
        }
    }

    [Fact]
    public async Task NoSiloOnTheGatewayPortIsReportedAfterTheGrace()
    {
        int port = Loopback.FreePort();
        var (e, took) = await Connect(new QstClientOptions { GatewayPorts = [port], NoSiloGrace = TimeSpan.FromSeconds(1) });
        Assert.Equal(ConnectionProblem.NoSilo, e.Problem);
        Assert.Contains(port.ToString(), e.Message);
        Assert.True(took < Fast, $"took {took}");
    }

    static async Task<(QstConnectionException Error, TimeSpan Took)> Connect(QstClientOptions options)
    {
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<QstConnectionException>(() => QstClient.ConnectAsync(options));
        return (e, clock.Elapsed);
    }
}
