using QstOrleans.Cli.ModelTools;
using QstOrleans.Client;
using QstOrleans.Contracts.Security;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// A cluster secured as an operator would: <c>deploy/make-certs.sh</c> makes a CA and certificates, two silo processes
/// with Redis clustering take <c>Qst:Tls:*</c>, and a job split over both silos (so silo-to-silo traffic is TLS too) is
/// submitted by <c>qst train --tls-*</c> and ends bitwise equal to the single-process trainer. Clients without a
/// certificate, or with one from another CA, cannot connect; a silo with half a TLS configuration refuses to start,
/// naming the missing key.
/// </summary>
public sealed class TlsClusterTests(ITestOutputHelper log) : IDisposable
{
    const int Steps = 4, Seed = 6;
    readonly string _root = Directory.CreateTempSubdirectory("qst-tls-").FullName;
    readonly List<ChildProcess> _processes = [];

    string Certs => Path.Combine(_root, "tls");
    string Rogue => Path.Combine(_root, "rogue");

    static void MakeCerts(string dir, params string[] names)
    {
        using var script = new ChildProcess("make-certs", "bash", [Path.Combine(RepoPaths.Root, "deploy", "make-certs.sh"), dir, .. names]);
        int code = script.WaitForExit(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        Assert.True(code == 0, $"make-certs.sh exited with {code}:\n{script.Output}");
    }

    ChildProcess Start(ChildProcess process)
    {
        _processes.Add(process);
        return process;
    }

    TlsFiles Files(string dir, string name) =>
        new() { Certificate = Path.Combine(dir, $"{name}.pem"), Key = Path.Combine(dir, $"{name}.key"), Ca = Path.Combine(dir, "ca.pem") };

    [Fact]
    public async Task AJobRunsOverMutualTlsAndClientsWithoutACertificateOfTheClusterCaAreRefused()
    {
        MakeCerts(Certs, "silo-a", "silo-b", "alice");
        MakeCerts(Rogue, "mallory");
        string model = Path.Combine(_root, "tiny"), data = Path.Combine(_root, "data.jsonl"), clusterId = $"tls-{Guid.NewGuid():N}"[..12];
        MakeModelCommand.Run("tiny", model, seed: 3);
        SyntheticDatasets.WriteAlpacaJsonl(data, 32, seed: 3);
        var (redis, redisPort) = Loopback.StartRedis(_root);
        Start(redis);
        string redisConnection = $"127.0.0.1:{redisPort}";

        string[] SiloArgs(string name, TlsFiles tls) =>
        [
            RepoPaths.SiloDll, "--Qst:Clustering", "redis", "--Qst:Redis", redisConnection, "--Qst:ClusterId", clusterId,
            "--Qst:SiloName", name, "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(),
            "--Qst:Slots:0:Device", "cpu:0", "--Qst:Http:Port", "0",
            "--Qst:Tls:Certificate", tls.Certificate!, "--Qst:Tls:Key", tls.Key!, "--Qst:Tls:Ca", tls.Ca!,
        ];
        var silos = new[] { "silo-a", "silo-b" }.Select(n => Start(new ChildProcess(n, "dotnet", SiloArgs(n, Files(Certs, n)), _root))).ToList();
        await Task.WhenAll(silos.Select(s => s.WaitForOutput($"silo {s.Name} up", TimeSpan.FromSeconds(90))));

        // The CLI with alice's certificate: the whole job crosses TLS (client → gateway, stage → stage → side trainer).
        var alice = Files(Certs, "alice");
        string jobId = $"tls-job-{Guid.NewGuid():N}"[..16];
        using var train = Start(new ChildProcess("qst train", "dotnet",
        [
            RepoPaths.QstDll, .. SoloRun.TrainArgs(model, data, Seed, Steps, stages: 2), "--job-id", jobId,
            "--redis", redisConnection, "--cluster-id", clusterId, "--tls-cert", alice.Certificate!, "--tls-key", alice.Key!, "--tls-ca", alice.Ca!,
        ], _root));
        int code = await train.WaitForExit(TimeSpan.FromSeconds(180));
        Assert.True(code == 0, $"qst train over TLS exited with {code}:\n{train.Output}\n{string.Join("\n", silos.Select(s => s.Output))}");

        await using (var client = await QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = redisConnection, ClusterId = clusterId, Tls = alice }))
        {
            var done = await client.StatusAsync(jobId);
            Assert.Equal((JobState.Completed, Steps), (done.State, done.Step));
            Assert.Equal(2, done.Placement.Values.Select(p => p.Split('/')[0]).Distinct().Count());   // both silos ran a stage
            var (losses, _) = SoloRun.Train(model, data, Seed, Steps, Path.Combine(_root, "solo"));
            Assert.Equal(losses, done.Losses);
        }

        // No certificate, and a certificate of another CA: no connection (the silos drop the handshake).
        foreach (var (who, tls) in new[] { ("a client without TLS", (TlsFiles?)null), ("mallory (another CA)", Files(Rogue, "mallory")) })
        {
            var options = new QstClientOptions { RedisConnectionString = redisConnection, ClusterId = clusterId, Tls = tls, ConnectTimeout = TimeSpan.FromSeconds(6) };
            var e = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var c = await QstClient.ConnectAsync(options);
                await c.StatusAsync(jobId);   // in case a connection opened lazily
            });
            log.WriteLine($"{who}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            Assert.Contains(tls is null ? "give this client a certificate of the cluster CA" : "refused this client's certificate", e.Message);
        }

        // Half a TLS configuration: the silo names the missing key and exits 2.
        var half = new ChildProcess("silo-half", "dotnet", SiloArgs("silo-c", Files(Certs, "silo-a"))[..^6]
            .Concat(["--Qst:Tls:Certificate", Path.Combine(Certs, "silo-a.pem"), "--Qst:Tls:Ca", Path.Combine(Certs, "ca.pem")]), _root);
        Start(half);
        Assert.Equal(2, await half.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Contains("Qst:Tls:Key: required when any TLS file is set", half.Output);
    }

    [Fact]
    public void CertificatesAreCheckedWhenLoaded()
    {
        MakeCerts(Certs, "alice");
        MakeCerts(Rogue, "mallory");
        var names = ("--tls-cert", "--tls-key", "--tls-ca");
        using (var ok = ClusterCertificates.Load(Files(Certs, "alice"), names))
        {
            Assert.True(ok.Local.HasPrivateKey);
            using var mallory = ClusterCertificates.Load(Files(Rogue, "mallory"), names);
            Assert.False(ok.Accepts(mallory.Local));   // another CA
            Assert.True(ok.Accepts(ok.Local));
        }
        var e = Assert.Throws<ArgumentException>(() => ClusterCertificates.Load(Files(Certs, "alice") with { Ca = Path.Combine(Rogue, "ca.pem") }, names));
        Assert.StartsWith("--tls-cert: ", e.Message);
        e = Assert.Throws<ArgumentException>(() => ClusterCertificates.Load(Files(Certs, "alice") with { Key = Path.Combine(Rogue, "mallory.key") }, names));
        Assert.Contains("--tls-key", e.Message);
        e = Assert.Throws<ArgumentException>(() => ClusterCertificates.Load(Files(Certs, "nobody"), names));
        Assert.Contains("--tls-cert: file", e.Message);
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes)) process.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
