using QstOrleans.Client;
using QstOrleans.Contracts.Security;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// Redis with a password (<c>redis-server --requirepass</c>, started by the test on 127.0.0.1 and stopped by its PID): a
/// silo and a client that give it in the connection string (<c>host:port,password=…</c>) work; without it, or with a
/// wrong one, the silo exits 1 and the client fails, each with one line naming the setting, and the password is never
/// printed.
/// </summary>
public sealed class RedisPasswordTests : IDisposable
{
    const string Password = "redis-pw-5b1e9c";
    readonly string _root = Directory.CreateTempSubdirectory("qst-redis-pw-").FullName;
    readonly List<ChildProcess> _processes = [];

    ChildProcess Start(ChildProcess process)
    {
        _processes.Add(process);
        return process;
    }

    [Fact]
    public async Task ASiloAndAClientWithThePasswordWorkAndWithoutItFailNamingTheSetting()
    {
        var (redis, port) = Loopback.StartRedis(_root, "--requirepass", Password);
        Start(redis);
        string plain = $"127.0.0.1:{port}", withPassword = $"{plain},password={Password}";
        string clusterId = $"pw-{Guid.NewGuid():N}"[..12];
        string[] SiloArgs(string name, string connection) =>
        [
            RepoPaths.SiloDll, "--Qst:Clustering", "redis", "--Qst:Redis", connection, "--Qst:ClusterId", clusterId,
            "--Qst:SiloName", name, "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(),
            "--Qst:Slots:0:Device", "cpu:0", "--Qst:Http:Port", "0",
        ];

        foreach (var (name, connection) in new[] { ("silo-nopw", plain), ("silo-wrongpw", $"{plain},password=wrong-pw-77") })
        {
            var refused = Start(new ChildProcess(name, "dotnet", SiloArgs(name, connection), _root));
            Assert.Equal(1, await refused.WaitForExit(TimeSpan.FromSeconds(90)));
            string output = refused.Output.Trim();
            Assert.Single(output.Split('\n'));
            Assert.StartsWith("error: Qst:Redis: Redis at 127.0.0.1:", output);
            Assert.Contains("refused the credentials", output);
            Assert.DoesNotContain("wrong-pw-77", output);
        }

        var silo = Start(new ChildProcess("silo-a", "dotnet", SiloArgs("silo-a", withPassword), _root));
        await silo.WaitForOutput("silo silo-a up", TimeSpan.FromSeconds(120));
        await using (var client = await QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = withPassword, ClusterId = clusterId }))
        {
            Assert.Single(await client.SlotsAsync());
            Assert.Empty(await client.ListAsync());
        }

        var e = await Assert.ThrowsAsync<QstConnectionException>(() =>
            QstClient.ConnectAsync(new QstClientOptions { RedisConnectionString = plain, ClusterId = clusterId, ConnectTimeout = TimeSpan.FromSeconds(10) }));
        Assert.Contains("(--redis) refused the credentials", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain(Password, silo.Output);
        Assert.Equal($"{plain},password=***", RedisSecrets.Redact(withPassword));
    }

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes)) process.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
