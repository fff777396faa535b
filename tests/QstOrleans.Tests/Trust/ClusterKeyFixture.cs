using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Client;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Security;
using QstOrleans.Tests.Client;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// One real silo with a cluster key file (<c>Qst:Auth:ClusterKeyFile</c>) and a tokens file (user alice), reached through its
/// gateway; and the tools to imitate a hostile client: one whose Orleans client id is a name it picked.
/// </summary>
public sealed class ClusterKeyFixture : IAsyncLifetime
{
    readonly string _root = Directory.CreateTempSubdirectory("qst-cluster-key-").FullName;
    IHost? _host;

    public string ClusterId { get; } = $"key-{Guid.NewGuid():N}"[..20];
    public int GatewayPort { get; } = Loopback.FreePort();
    public string ModelDirectory => Path.Combine(_root, "tiny");
    public string DataFile => Path.Combine(_root, "data.jsonl");
    public string TokensPath => Path.Combine(_root, "tokens");
    public string KeyPath => Path.Combine(_root, "cluster.key");
    public string AliceToken { get; } = AuthSiloFixture.RandomToken();

    public QstClientOptions Options(int gatewayPort, string clusterId, string? token) => new()
    {
        GatewayPorts = [gatewayPort], ClusterId = clusterId, ServiceId = LocalSiloHost.ServiceId, ConnectTimeout = TimeSpan.FromSeconds(60), Token = token,
    };

    public JobSpec Spec(int maxSteps) => new()
    {
        ModelDirectory = ModelDirectory, DataFile = DataFile, MaxSteps = maxSteps, Epochs = 5, MicroBatchSize = 4, Seed = 3, Stages = 1, Window = 2,
    };

    /// <summary>A silo of its own on this fixture's inputs and tokens; <paramref name="withKey"/> false = no cluster key (the old rule).</summary>
    public Task<IHost> StartSiloAsync(int gatewayPort, string clusterId, bool withKey) => InProcessSilo.StartAsync(new LocalSiloOptions
    {
        StateDirectory = Path.Combine(_root, $"state-{clusterId}"), Devices = ["cpu:0"], SiloPort = Loopback.FreePort(), GatewayPort = gatewayPort,
        ClusterId = clusterId, Auth = new AuthOptions { TokensFile = TokensPath, ClusterKeyFile = withKey ? KeyPath : null },
    }, logging => logging.SetMinimumLevel(LogLevel.Warning));

    public async Task InitializeAsync()
    {
        InProcessSilo.WriteTinyInputs(ModelDirectory, DataFile);
        File.WriteAllLines(TokensPath, [$"alice user {TokensFile.Hash(AliceToken)}"]);
        File.WriteAllText(KeyPath, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n");
        _host = await StartSiloAsync(GatewayPort, ClusterId, withKey: true);
    }

    public Task DisposeAsync() => InProcessSilo.StopAsync(_host, _root);

    /// <summary>
    /// An Orleans client whose client id is <c>sys.client/<paramref name="name"/></c>, as a client built from Orleans' source
    /// could pick (Orleans draws a random one; it lives in the internal LocalClientDetails, set here before the client starts).
    /// No token filter: the caller sets whatever it likes in the request context.
    /// </summary>
    public static async Task<IHost> ConnectNamedAsync(QstClientOptions options, string name)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(client => client.UseQstCluster(options with { Token = null }));
        var host = builder.Build();
        var detailsType = OrleansType("LocalClientDetails");
        var idType = OrleansType("ClientGrainId");
        var tryParse = idType.GetMethod("TryParse", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static,
            [typeof(GrainId), idType.MakeByRefType()]) ?? throw new InvalidOperationException("ClientGrainId.TryParse(GrainId, out ClientGrainId) not found");
        object?[] args = [GrainId.Create("sys.client", name), null];
        Assert.True((bool)tryParse.Invoke(null, args)!);
        var details = host.Services.GetRequiredService(detailsType);
        detailsType.GetField("<ClientId>k__BackingField", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.SetValue(details, args[1]);
        await host.StartAsync();
        // The client really carries the picked id (else the tests below would prove nothing).
        Assert.Contains(name, detailsType.GetProperty("ClientId")!.GetValue(details)!.ToString());
        return host;
    }

    /// <summary>An internal type of Orleans' client by its name (its assembly and namespace have moved between versions).</summary>
    static Type OrleansType(string name) =>
        new[] { typeof(IClusterClient).Assembly, typeof(GrainId).Assembly }
            .Concat(AppDomain.CurrentDomain.GetAssemblies().Where(a => a.GetName().Name?.StartsWith("Orleans", StringComparison.Ordinal) == true))
            .Distinct()
            .SelectMany(a => a.GetTypes().Where(t => t.Name == name && !t.IsNested))
            .FirstOrDefault() ?? throw new InvalidOperationException($"no type {name} in Orleans' assemblies");
}
