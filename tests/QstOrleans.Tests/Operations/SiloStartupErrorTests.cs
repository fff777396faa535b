using System.Net;
using System.Net.Sockets;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Operations;

/// <summary>
/// Start-up problems of the environment are one line that names the setting, then a non-zero exit, and no stack trace:
/// a port another program holds (silo, gateway, HTTP or dashboard port), Redis or the Azure grain-state account not
/// answering, a key no option reads.
/// </summary>
public sealed class SiloStartupErrorTests
{
    [Fact]
    public async Task EachProblemIsOneLineNamingItsSetting()
    {
        // A port held by this test (a listening socket) for each of the three ports a silo opens.
        using var held = new TcpListener(IPAddress.Any, 0);
        held.Start();
        int taken = ((IPEndPoint)held.LocalEndpoint).Port;
        string Free() => Loopback.FreePort().ToString();
        string unused = Free();
        static string Azure(string endpoint) => $"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={Convert.ToBase64String(new byte[64])};{endpoint};";
        var cases = new (string[] Args, int Code, string Expected)[]
        {
            (["--Qst:SiloPort", taken.ToString(), "--Qst:GatewayPort", Free(), "--Qst:Http:Port", Free()], 1,
                $"error: Qst:SiloPort: port {taken} on 127.0.0.1 is already in use"),
            (["--Qst:SiloPort", Free(), "--Qst:GatewayPort", taken.ToString(), "--Qst:Http:Port", Free()], 1,
                $"error: Qst:GatewayPort: port {taken} on 127.0.0.1 is already in use"),
            (["--Qst:SiloPort", Free(), "--Qst:GatewayPort", Free(), "--Qst:Http:Port", taken.ToString()], 1,
                $"error: Qst:Http:Port: port {taken} on 0.0.0.0 is already in use"),
            (["--Qst:Clustering", "redis", "--Qst:Redis", $"127.0.0.1:{Free()}", "--Qst:Http:Port", "0"], 1,
                "error: Qst:Redis: Redis at 127.0.0.1:"),
            (["--Qst:SiloPrt", "11112"], 2, "error: Qst:SiloPrt: unknown key (keys under Qst: "),
            (["--Qst:Http:Prot", "8081"], 2, "error: Qst:Http:Prot: unknown key (keys under Qst:Http: Address, Port)"),
            (["--Qst:Slots:0:Devise", "cpu:0"], 2, "error: Qst:Slots:0:Devise: unknown key (keys under Qst:Slots:0: Device, MemoryGiB)"),
            (["--Qst:Http:Address", "everywhere"], 2, "error: Qst:Http:Address: 'everywhere' is not an IP address"),
            (["--Qst:Telemetry:OtlpEndpoint", "collector:4317"], 2, "error: Qst:Telemetry:OtlpEndpoint: 'collector:4317' is not an http(s) URL"),
            (["--Qst:SiloPort", Free(), "--Qst:GatewayPort", Free(), "--Qst:Http:Port", Free(), "--Qst:Dashboard:Port", taken.ToString()], 1,
                $"error: Qst:Dashboard:Port: port {taken} on 127.0.0.1 is already in use"),
            (["--Qst:Http:Port", "8090", "--Qst:Dashboard:Port", "8090"], 2, "error: Qst:Dashboard:Port: 8090 is already the silo, gateway or HTTP port"),
            // Grain state on Azure: an account that does not answer (nothing listens on the port) is named before Orleans starts.
            (["--Qst:Http:Port", "0", "--Qst:State:Provider", "azure-table", "--Qst:State:ConnectionString", Azure($"TableEndpoint=http://127.0.0.1:{unused}/acct")], 1,
                $"error: Qst:State:ConnectionString: Azure Table Storage at http://127.0.0.1:{unused}/acct does not answer"),
            (["--Qst:Http:Port", "0", "--Qst:State:Provider", "azure-blob", "--Qst:State:ConnectionString", Azure($"BlobEndpoint=http://127.0.0.1:{unused}/acct")], 1,
                $"error: Qst:State:ConnectionString: Azure Blob Storage at http://127.0.0.1:{unused}/acct/qst-state does not answer"),
        };
        foreach (var batch in cases.Chunk(5))
        {
            var processes = batch.Select(c => new ChildProcess("silo", "dotnet", [RepoPaths.SiloDll, .. c.Args])).ToList();
            try
            {
                int[] codes = await Task.WhenAll(processes.Select(p => p.WaitForExit(TimeSpan.FromSeconds(60))));
                for (int i = 0; i < batch.Length; i++)
                {
                    string output = processes[i].Output;
                    Assert.True(codes[i] == batch[i].Code, $"{string.Join(' ', batch[i].Args)}: exit code {codes[i]}\n{output}");
                    var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                    Assert.StartsWith(batch[i].Expected, line);
                }
            }
            finally
            {
                foreach (var process in processes) process.Dispose();
            }
        }
    }
}
