using System.Diagnostics;
using System.Net;
using QstOrleans.Tests.EndToEnd;
using YamlDotNet.RepresentationModel;

namespace QstOrleans.Tests.Operations;

/// <summary>
/// What can be checked of deploy/ without a cluster: the systemd units pass <c>systemd-analyze verify</c>; every
/// Kubernetes manifest parses, the silo's probes point at its HTTP endpoints and its GPU limit matches its cuda slots;
/// and a silo process given the StatefulSet's environment (downward API values filled in as the kubelet would) takes its
/// name and advertised address from the pod and becomes ready.
/// </summary>
public sealed class DeployFilesTests(ITestOutputHelper log) : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("qst-deploy-").FullName;
    readonly List<ChildProcess> _processes = [];
    static string Deploy(params string[] parts) => Path.Combine([RepoPaths.Root, "deploy", .. parts]);

    [Fact]
    public void SystemdUnitsVerify()
    {
        var analyze = new[] { "/usr/bin/systemd-analyze", "/bin/systemd-analyze" }.FirstOrDefault(File.Exists);
        if (analyze is null)
        {
            log.WriteLine("systemd-analyze is not installed: unit files not verified (apt-get install systemd)");
            return;
        }
        // A template is verified through an instance of it.
        File.Copy(Deploy("systemd", "qst-silo@.service"), Path.Combine(_root, "qst-silo@gpu0.service"));
        File.Copy(Deploy("systemd", "qst-redis.service"), Path.Combine(_root, "qst-redis.service"));
        foreach (var unit in new[] { "qst-silo@gpu0.service", "qst-redis.service" })
        {
            var info = new ProcessStartInfo(analyze, ["verify", "--man=no", Path.Combine(_root, unit)]) { RedirectStandardError = true, RedirectStandardOutput = true };
            using var process = Process.Start(info)!;
            string output = process.StandardError.ReadToEnd() + process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"{unit}: systemd-analyze verify exited {process.ExitCode}:\n{output}");
            Assert.DoesNotContain(unit, output);   // no warning about this unit
        }
        string silo = File.ReadAllText(Deploy("systemd", "qst-silo@.service"));
        Assert.Contains("Type=notify", silo);              // AddSystemd in the silo signals readiness
        Assert.Contains("RestartPreventExitStatus=2", silo); // configuration errors are not retried
    }

    [Fact]
    public void KubernetesManifestsParseAndProbeTheSilosEndpoints()
    {
        var documents = Directory.GetFiles(Deploy("k8s"), "*.yaml").Order(StringComparer.Ordinal)
            .SelectMany(f => Load(f).Select(d => (File: Path.GetFileName(f), Root: (YamlMappingNode)d.RootNode))).ToList();
        foreach (var (file, root) in documents)
        {
            Assert.False(string.IsNullOrEmpty(Scalar(root, "apiVersion")), $"{file}: apiVersion missing");
            Assert.False(string.IsNullOrEmpty(Scalar(root, "kind")), $"{file}: kind missing");
        }
        var kustomization = documents.Single(d => Scalar(d.Root, "kind") == "Kustomization").Root;
        var listed = ((YamlSequenceNode)kustomization["resources"]).Select(n => ((YamlScalarNode)n).Value).Order().ToList();
        Assert.Equal(documents.Select(d => d.File).Where(f => f != "kustomization.yaml").Distinct().Order().ToList(), listed);

        var silo = SiloContainer(documents.Single(d => Scalar(d.Root, "kind") == "StatefulSet").Root);
        var env = Environment(silo);
        var ports = ((YamlSequenceNode)silo["ports"]).Cast<YamlMappingNode>().ToDictionary(p => Scalar(p, "name")!, p => Scalar(p, "containerPort")!);
        Assert.Equal(env["Qst__Http__Port"], ports["http"]);
        Assert.Equal(env["Qst__SiloPort"], ports["silo"]);
        Assert.Equal(env["Qst__GatewayPort"], ports["gateway"]);
        foreach (var (probe, path) in new[] { ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz") })
        {
            var get = (YamlMappingNode)((YamlMappingNode)silo[probe])["httpGet"];
            Assert.Equal(path, Scalar(get, "path"));
            Assert.Equal("http", Scalar(get, "port"));
        }
        // One cuda:N slot per GPU the pod is given.
        int gpus = int.Parse(Scalar((YamlMappingNode)((YamlMappingNode)silo["resources"])["limits"], "nvidia.com/gpu")!);
        var slots = env.Where(kv => kv.Key.StartsWith("Qst__Slots__") && kv.Key.EndsWith("__Device")).Select(kv => kv.Value).Order().ToList();
        Assert.Equal(Enumerable.Range(0, gpus).Select(i => $"cuda:{i}").ToList(), slots);
        Assert.Equal("metadata.name", env["Qst__SiloName"]);
        Assert.Equal("status.podIP", env["Qst__AdvertisedAddress"]);
    }

    [Fact]
    public async Task ASiloGivenThePodsEnvironmentTakesItsNameAndAddressFromThePod()
    {
        var documents = Load(Deploy("k8s", "silo.yaml"));
        var env = Environment(SiloContainer((YamlMappingNode)documents[0].RootNode));
        // What the kubelet fills in from the downward API for pod qst-silo-1 at 127.0.0.1.
        var pod = new Dictionary<string, string> { ["metadata.name"] = "qst-silo-1", ["status.podIP"] = "127.0.0.1" };
        var environment = env.ToDictionary(kv => kv.Key, kv => pod.GetValueOrDefault(kv.Value, kv.Value));
        var (redis, redisPort) = Loopback.StartRedis(_root);
        _processes.Add(redis);
        int httpPort = Loopback.FreePort();
        // The command line overrides only what differs on this test host: Redis, ports (many tests share the host), paths.
        var silo = new ChildProcess("pod", "dotnet",
        [
            RepoPaths.SiloDll, "--Qst:Redis", $"127.0.0.1:{redisPort}", "--Qst:SiloPort", Loopback.FreePort().ToString(),
            "--Qst:GatewayPort", Loopback.FreePort().ToString(), "--Qst:Http:Port", httpPort.ToString(),
            "--Qst:Checkpoints:Path", Path.Combine(_root, "checkpoints"),
        ], _root, environment);
        _processes.Add(silo);
        await silo.WaitForOutput("silo qst-silo-1 up", TimeSpan.FromSeconds(90));
        Assert.Contains("silo qst-silo-1 up: cluster qst/qst via redis advertising 127.0.0.1 (configured)", silo.Output);
        Assert.Contains("slots cuda:0 (80 GiB)", silo.Output);
        var ready = await Eventually.WaitUntil("/readyz to answer 200", () => SiloHttp.Get(httpPort, "readyz"), r => r.Status == HttpStatusCode.OK,
            TimeSpan.FromSeconds(60));
        Assert.Contains("slots: ok qst-silo-1/cuda:0", ready.Body);
    }

    static IReadOnlyList<YamlDocument> Load(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return [.. stream.Documents];
    }

    static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? ((YamlScalarNode)value).Value : null;

    static YamlMappingNode SiloContainer(YamlMappingNode statefulSet)
    {
        var pod = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)statefulSet["spec"])["template"])["spec"];
        return ((YamlSequenceNode)pod["containers"]).Cast<YamlMappingNode>().Single(c => Scalar(c, "name") == "silo");
    }

    /// <summary>The container's env: literal values, and for downward-API entries the field path (e.g. <c>status.podIP</c>).</summary>
    static Dictionary<string, string> Environment(YamlMappingNode container) =>
        ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().ToDictionary(e => Scalar(e, "name")!,
            e => Scalar(e, "value") ?? Scalar((YamlMappingNode)((YamlMappingNode)e["valueFrom"])["fieldRef"], "fieldPath")!);

    public void Dispose()
    {
        foreach (var process in Enumerable.Reverse(_processes)) process.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
