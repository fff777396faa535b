using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using QstOrleans.Client;
using QstOrleans.Contracts.Security;
using QstOrleans.Grains.Security;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// The control plane with a cluster key (<c>Qst:Auth:ClusterKeyFile</c>): the silos' own calls carry it, so the pipeline trains
/// as before; a client that names itself like a silo's hosted client (<c>hosted-x</c>), or puts a guessed key or the
/// "verified" mark in its request context, is a client: refused on <c>[ControlPlane]</c> methods and asked for a token.
/// Without a key the same named client passes (the hole the key closes; proves the imitation is real).
/// </summary>
public sealed class ClusterKeyTests(ClusterKeyFixture cluster) : IClassFixture<ClusterKeyFixture>
{
    static readonly TensorPayload Empty = new([], [0], WireDType.Int64);

    [Fact]
    public async Task ThePipelineRunsWithTheKeyAndSpoofedClientsAreRefused()
    {
        await using var alice = await QstClient.ConnectAsync(cluster.Options(cluster.GatewayPort, cluster.ClusterId, cluster.AliceToken));
        const string id = "keyed";
        Assert.Equal(SubmitOutcome.Started, (await alice.SubmitAsync(id, cluster.Spec(maxSteps: 3))).Outcome);

        using var named = await ClusterKeyFixture.ConnectNamedAsync(cluster.Options(cluster.GatewayPort, cluster.ClusterId, null), "hosted-x");
        var grains = named.Services.GetRequiredService<IClusterClient>();
        // No token: the name no longer makes it one of the silo's own callers.
        var denied = await Assert.ThrowsAsync<QstAccessDeniedException>(() => grains.GetGrain<ITrainingJobGrain>(id).GetProgress());
        Assert.True(denied.Unauthenticated);
        // With a valid user token it is that user, not the cluster: a control-plane method is refused.
        RequestContext.Set(QstAuth.TokenKey, cluster.AliceToken);
        try
        {
            var refused = await Assert.ThrowsAsync<QstErrorException>(() => grains.GetGrain<ISideTrainerGrain>(id).SubmitBatch(new SideBatch(0, 0, Empty, Empty, 0)));
            Assert.Contains("ISideTrainerGrain.SubmitBatch is internal", refused.Message);
        }
        finally { RequestContext.Clear(); }

        // The real pipeline, whose grains call those methods among themselves with the key, trains to the end untouched.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await foreach (var _ in alice.WatchAsync(id, cancel: timeout.Token)) { }
        var done = await alice.StatusAsync(id);
        Assert.Equal(JobState.Completed, done.State);
        Assert.Equal(3, done.Step);
        Assert.Empty(done.Recoveries);
    }

    [Theory]
    [InlineData("qst-cluster-key", "guess")]          // a guessed key
    [InlineData("qst-cluster-call", "true")]          // the mark the silo sets after checking the key, sent by the client itself
    public async Task AForgedKeyOrMarkInTheRequestContextIsRefused(string contextKey, string kind)
    {
        await using var alice = await QstClient.ConnectAsync(cluster.Options(cluster.GatewayPort, cluster.ClusterId, cluster.AliceToken));
        await alice.SubmitAsync("forged", cluster.Spec(maxSteps: 2));
        object value = kind == "true" ? true : new string('a', 64);
        RequestContext.Set(contextKey, value);
        try
        {
            var side = alice.Grains.GetGrain<ISideTrainerGrain>("forged");
            var refused = await Assert.ThrowsAsync<QstErrorException>(() => side.SubmitBatch(new SideBatch(0, 0, Empty, Empty, 0)));
            Assert.Contains("is internal", refused.Message);
        }
        finally { RequestContext.Clear(); }
    }

    [Fact]
    public async Task WithoutAKeyTheSameNamedClientPassesAsTheClustersOwn()
    {
        int gateway = Loopback.FreePort();
        string clusterId = $"nokey-{Guid.NewGuid():N}"[..20];
        var silo = await cluster.StartSiloAsync(gateway, clusterId, withKey: false);
        try
        {
            using var named = await ClusterKeyFixture.ConnectNamedAsync(cluster.Options(gateway, clusterId, null), "hosted-x");
            // No token, yet past the token filter to the job grain itself (which knows no such job): the silo took the client
            // for its own hosted client (the old rule). With the key the same call is refused for want of a token (above).
            var reached = await Assert.ThrowsAsync<JobNotFoundException>(() =>
                named.Services.GetRequiredService<IClusterClient>().GetGrain<ITrainingJobGrain>("anyone").GetProgress());
            Assert.Contains("'anyone'", reached.Message);
        }
        finally
        {
            await silo.StopAsync(TimeSpan.FromSeconds(10));
            silo.Dispose();
        }
    }

    [Fact]
    public void AMissingOrShortKeyFileIsRefusedNamingTheSettingWithoutItsContent()
    {
        using var dir = new TestDirectory();
        var missing = Assert.Throws<ArgumentException>(() => ClusterKey.Load(dir["absent.key"]));
        Assert.Contains("Qst:Auth:ClusterKeyFile", missing.Message);
        Assert.Contains(dir["absent.key"], missing.Message);
        File.WriteAllText(dir["short.key"], "tooshort-secret\n");
        var shortKey = Assert.Throws<ArgumentException>(() => ClusterKey.Load(dir["short.key"]));
        Assert.Contains("Qst:Auth:ClusterKeyFile", shortKey.Message);
        Assert.DoesNotContain("tooshort-secret", shortKey.Message);
        File.WriteAllText(dir["good.key"], new string('k', ClusterKey.MinimumLength) + "\n");
        Assert.True(ClusterKey.Load(dir["good.key"]).IsSet);
        Assert.False(ClusterKey.None.IsSet);
    }
}
