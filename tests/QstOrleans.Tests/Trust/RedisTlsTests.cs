using System.Diagnostics;
using QstOrleans.Client;
using QstOrleans.Tests.Client;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// Redis over TLS with a private CA (<c>redis-server --port 0 --tls-port …</c> with certificates from deploy/make-certs.sh,
/// started by the test on 127.0.0.1 and stopped by its PID): a silo (<c>Qst:Redis …,ssl=true</c> + <c>Qst:RedisCaFile</c>) and a
/// client (<c>RedisConnectionString</c> + <c>RedisCaFile</c>, the CLI's <c>--redis-ca</c>) run a job through it; another CA
/// gives one line naming the CA setting (silo exit 1, client <see cref="QstConnectionException"/>); a CA without
/// <c>ssl=true</c> is a configuration error (exit 2).
/// </summary>
public sealed class RedisTlsTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("qst-redis-tls-").FullName;
    readonly List<ChildProcess> _processes = [];

    ChildProcess Start(ChildProcess process)
    {
        _processes.Add(process);
        return process;
    }

    void MakeCerts(string dir, params string[] names)
    {
        using var make = Process.Start(new ProcessStartInfo("bash", [Path.Combine(RepoPaths.Root, "deploy", "make-certs.sh"), dir, .. names])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        string output = make.StandardOutput.ReadToEnd() + make.StandardError.ReadToEnd();
        make.WaitForExit();
        Assert.True(make.ExitCode == 0, output);
    }

    [Fact]
    public async Task ASiloAndAClientRunAJobOverTlsAndAnotherCaIsRefusedNamingTheSetting()
    {
        string tls = Path.Combine(_root, "tls"), other = Path.Combine(_root, "other");
        MakeCerts(tls, "redis");
        MakeCerts(other, "unused");
        string ca = Path.Combine(tls, "ca.pem"), wrongCa = Path.Combine(other, "ca.pem");
        int port = Loopback.FreePort();
        var redis = Start(new ChildProcess("redis-server", Loopback.FindRedisServer(),
        [
            "--port", "0", "--tls-port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--tls-cert-file", Path.Combine(tls, "redis.pem"), "--tls-key-file", Path.Combine(tls, "redis.key"), "--tls-ca-cert-file", ca,
            "--tls-auth-clients", "no",
        ], _root));
        Loopback.WaitForPort(port, TimeSpan.FromSeconds(10), redis);
        string connection = $"127.0.0.1:{port},ssl=true";
        string clusterId = $"tls-{Guid.NewGuid():N}"[..12];
        string[] SiloArgs(string name, string redisConnection, string caFile) =>
        [
            RepoPaths.SiloDll, "--Qst:Clustering", "redis", "--Qst:Redis", redisConnection, "--Qst:RedisCaFile", caFile, "--Qst:ClusterId", clusterId,
            "--Qst:SiloName", name, "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(),
            "--Qst:Slots:0:Device", "cpu:0", "--Qst:Http:Port", "0",
        ];

        var noSsl = Start(new ChildProcess("silo-nossl", "dotnet", SiloArgs("silo-nossl", $"127.0.0.1:{port}", ca), _root));
        Assert.Equal(2, await noSsl.WaitForExit(TimeSpan.FromSeconds(90)));
        Assert.StartsWith("error: Qst:RedisCaFile: set, but Qst:Redis does not ask for TLS", noSsl.Output.Trim());

        var wrong = Start(new ChildProcess("silo-wrongca", "dotnet", SiloArgs("silo-wrongca", connection, wrongCa), _root));
        Assert.Equal(1, await wrong.WaitForExit(TimeSpan.FromSeconds(90)));
        string refused = wrong.Output.Trim();
        Assert.Single(refused.Split('\n'));
        Assert.StartsWith($"error: Qst:RedisCaFile: the Redis server at {connection} presented a certificate that the CA in '{wrongCa}' did not sign", refused);

        var silo = Start(new ChildProcess("silo-a", "dotnet", SiloArgs("silo-a", connection, ca), _root));
        await silo.WaitForOutput("silo silo-a up", TimeSpan.FromSeconds(120));
        string model = Path.Combine(_root, "tiny"), data = Path.Combine(_root, "data.jsonl");
        InProcessSilo.WriteTinyInputs(model, data);
        await using (var client = await QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = connection, RedisCaFile = ca, ClusterId = clusterId }))
        {
            Assert.Single(await client.SlotsAsync());
            var spec = new JobSpec { ModelDirectory = model, DataFile = data, MaxSteps = 2, Epochs = 5, MicroBatchSize = 4, Seed = 3, Stages = 1, Window = 2 };
            Assert.Equal(SubmitOutcome.Started, (await client.SubmitAsync("over-tls", spec)).Outcome);
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await foreach (var _ in client.WatchAsync("over-tls", cancel: timeout.Token)) { }
            Assert.Equal(JobState.Completed, (await client.StatusAsync("over-tls")).State);
        }

        var e = await Assert.ThrowsAsync<QstConnectionException>(() => QstClient.ConnectAsync(new QstClientOptions
        {
            RedisConnectionString = connection, RedisCaFile = wrongCa, ClusterId = clusterId, ConnectTimeout = TimeSpan.FromSeconds(10),
        }));
        Assert.Contains($"--redis-ca: the Redis server at {connection} presented a certificate that the CA in '{wrongCa}' did not sign", e.Message);
    }

    public void Dispose()
    {
        foreach (var process in _processes) process.Dispose();   // stops each by its PID
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
