using System.Net;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Operations;

/// <summary>Starts silo processes with an HTTP port and reads their endpoints.</summary>
internal static class SiloHttp
{
    public static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>A silo process on free ports (silo, gateway, HTTP) plus <paramref name="extra"/> settings.</summary>
    public static (ChildProcess Silo, int HttpPort) Start(string name, string workingDirectory, params string[] extra)
    {
        int httpPort = Loopback.FreePort();
        var silo = new ChildProcess(name, "dotnet",
        [
            RepoPaths.SiloDll, "--Qst:SiloName", name, "--Qst:SiloPort", Loopback.FreePort().ToString(),
            "--Qst:GatewayPort", Loopback.FreePort().ToString(), "--Qst:Http:Port", httpPort.ToString(), .. extra,
        ], workingDirectory);
        return (silo, httpPort);
    }

    public static Uri Base(int port) => new($"http://127.0.0.1:{port}/");

    public static async Task<(HttpStatusCode Status, string Body)> Get(int port, string path)
    {
        using var response = await Http.GetAsync(new Uri(Base(port), path));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
