using System.Net;
using QstOrleans.Client;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Operations;

/// <summary>
/// The silo process's HTTP endpoints: <c>/healthz</c> answers while the process runs, <c>/readyz</c> only while it is in the
/// cluster with its slots published and its storage answering (and says which check fails), <c>/metrics</c> serves the
/// Prometheus text of the qst_* and Orleans meters; <see cref="SiloHealth"/> (client library) reports the same.
/// </summary>
public sealed class SiloHealthTests(ITestOutputHelper log) : IDisposable
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(90);
    readonly string _root = Directory.CreateTempSubdirectory("qst-health-").FullName;
    readonly List<ChildProcess> _processes = [];

    /// <summary>
    /// Localhost clustering with only the silo's own ports given (no <c>Qst:PrimarySiloPort</c>): the silo is its own
    /// primary and starts (it used to wait for a primary at 127.0.0.1:11111, then fail with "A task was canceled").
    /// </summary>
    [Fact]
    public async Task ALocalhostSiloGivenOnlyItsPortsStartsAndServesHealthReadinessAndMetrics()
    {
        var (silo, port) = SiloHttp.Start("health-a", _root);
        _processes.Add(silo);
        await silo.WaitForOutput("silo health-a up", Startup);

        var (liveStatus, liveBody) = await SiloHttp.Get(port, "healthz");
        Assert.Equal(HttpStatusCode.OK, liveStatus);
        Assert.Equal("ok\n", liveBody);

        // Ready once membership shows it Active (the "up" line can precede the membership snapshot by a moment).
        var ready = await Eventually.WaitUntil("/readyz to answer 200", () => SiloHttp.Get(port, "readyz"), r => r.Status == HttpStatusCode.OK, Startup);
        log.WriteLine(ready.Body);
        Assert.StartsWith("ready\n", ready.Body);
        Assert.Matches(@"cluster: ok S127\.0\.0\.1:\d+:\d+ is Active", ready.Body);
        Assert.Contains("slots: ok health-a/cpu:0", ready.Body);
        Assert.Contains($"state: ok {Path.Combine(_root, "state")}", ready.Body);

        var (metricsStatus, metrics) = await SiloHttp.Get(port, "metrics");
        Assert.Equal(HttpStatusCode.OK, metricsStatus);
        // Orleans' own meter (the silo activated its reminder table and job registry grains while starting) and the process gauges.
        Assert.True(PrometheusText.Sum(metrics, "orleans_catalog_activation_created_total") >= 1, metrics);
        double workingSet = Assert.Single(PrometheusText.Values(metrics, "qst_process_working_set_bytes"));
        Assert.InRange(workingSet, 10e6, 64e9);

        var report = await SiloHealth.CheckAsync(SiloHttp.Base(port));
        Assert.True(report.Live && report.Ready, report.ToString());
        Assert.Contains("slots: ok health-a/cpu:0", report.Detail);
    }

    /// <summary>Redis goes away under a running silo: it stays live but is no longer ready, and /readyz names Redis.</summary>
    [Fact]
    public async Task ASiloWhoseRedisStopsIsLiveButNotReady()
    {
        var (redis, redisPort) = Loopback.StartRedis(_root);
        _processes.Add(redis);
        var (silo, port) = SiloHttp.Start("health-b", _root, "--Qst:Clustering", "redis", "--Qst:Redis", $"127.0.0.1:{redisPort}",
            "--Qst:ClusterId", $"health-{Guid.NewGuid():N}"[..16]);
        _processes.Add(silo);
        await silo.WaitForOutput("silo health-b up", Startup);
        var ready = await Eventually.WaitUntil("/readyz to answer 200", () => SiloHttp.Get(port, "readyz"), r => r.Status == HttpStatusCode.OK, Startup);
        Assert.Contains($"redis: ok 127.0.0.1:{redisPort} answered", ready.Body);

        redis.KillHard();
        var failing = await Eventually.WaitUntil("/readyz to answer 503", () => SiloHttp.Get(port, "readyz"),
            r => r.Status == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30));
        log.WriteLine(failing.Body);
        Assert.StartsWith("not ready\n", failing.Body);
        Assert.Contains("redis: FAIL", failing.Body);
        Assert.Equal(HttpStatusCode.OK, (await SiloHttp.Get(port, "healthz")).Status);

        var report = await SiloHealth.CheckAsync(SiloHttp.Base(port));
        Assert.True(report.Live, report.ToString());
        Assert.False(report.Ready, report.ToString());
        Assert.Contains("redis: FAIL", report.Detail);
    }

    /// <summary>Nothing listens: the client's check says so instead of throwing.</summary>
    [Fact]
    public async Task AnUnreachableSiloIsReportedDown()
    {
        var report = await SiloHealth.CheckAsync(SiloHttp.Base(Loopback.FreePort()));
        Assert.False(report.Live);
        Assert.False(report.Ready);
        Assert.StartsWith("unreachable:", report.Detail);
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes)) process.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
