using System.Net;

namespace QstOrleans.Client;

/// <summary>What a silo's HTTP endpoints said: alive (<c>/healthz</c>), ready (<c>/readyz</c>) and the readiness lines.</summary>
/// <param name="Silo">The silo's HTTP base address.</param>
/// <param name="Live">Whether <c>/healthz</c> answered 200.</param>
/// <param name="Ready">Whether <c>/readyz</c> answered 200.</param>
/// <param name="Detail">The <c>/readyz</c> body (one line per check: <c>redis: FAIL …</c>), or why the silo could not be reached.</param>
public sealed record SiloHealthReport(Uri Silo, bool Live, bool Ready, string Detail)
{
    /// <summary>One status line, then the detail.</summary>
    public override string ToString() => $"{Silo}: {(Ready ? "ready" : Live ? "live, not ready" : "down")}\n{Detail}";
}

/// <summary>
/// The check an operator's tooling (or <c>kubelet</c>) makes, from .NET: GET <c>/healthz</c> and <c>/readyz</c> on a silo's
/// <c>Qst:Http:Port</c>. Never throws for an unreachable or unhealthy silo: that is a report with <c>Live = false</c>.
/// </summary>
public static class SiloHealth
{
    static readonly HttpClient Shared = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <param name="silo">The silo's HTTP base address, e.g. <c>http://10.0.0.5:8080/</c>.</param>
    /// <param name="http">A client to use (timeouts, handlers); a shared one with a 5 s timeout by default.</param>
    /// <param name="cancel">Stops the check.</param>
    public static async Task<SiloHealthReport> CheckAsync(Uri silo, HttpClient? http = null, CancellationToken cancel = default)
    {
        http ??= Shared;
        try
        {
            using var live = await http.GetAsync(new Uri(silo, "healthz"), cancel);
            if (live.StatusCode != HttpStatusCode.OK)
                return new(silo, false, false, $"/healthz answered {(int)live.StatusCode} {live.ReasonPhrase}");
            using var ready = await http.GetAsync(new Uri(silo, "readyz"), cancel);
            string body = await ready.Content.ReadAsStringAsync(cancel);
            return new(silo, true, ready.StatusCode == HttpStatusCode.OK, body.TrimEnd());
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancel.IsCancellationRequested)
        {
            return new(silo, false, false, $"unreachable: {e.Message}");
        }
    }
}
