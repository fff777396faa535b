using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;

namespace QstOrleans.Silo;

/// <summary>
/// Refuses a silo whose name or advertised endpoint is already taken by a live member of the cluster. Two silos with one
/// <c>Qst:SiloName</c> publish the same slot names (a 2-stage job silently ran both stages on one of them); two with one
/// endpoint take each other for a restarted generation and one is declared dead. Runs before the silo joins: reads the
/// membership table with the cluster's own provider (a separate instance of the registered <see cref="IMembershipTable"/>)
/// and, for every Active entry with the same name or endpoint, tries a TCP connection to that entry's silo port. An entry
/// whose process is gone (a crash the cluster has not noticed yet, e.g. this silo's previous run) refuses the connection
/// or times out, and is not a clash, so restarting a crashed silo under its name still works.
/// </summary>
/// <remarks>Two silos starting at the same moment do not see each other (neither is in the table yet).</remarks>
public static class SiloClashCheck
{
    /// <summary>One line naming the clash (key, value, the other silo), or null when there is none.</summary>
    public static async Task<string?> FindAsync(IServiceProvider services, string section, string siloName, IPEndPoint advertised,
        TimeSpan connectTimeout, CancellationToken cancel)
    {
        var registered = services.GetRequiredService<IMembershipTable>();
        var table = (IMembershipTable)ActivatorUtilities.CreateInstance(services, registered.GetType());
        try
        {
            // The first silo of a cluster finds no table: create its version as that silo's own start would.
            await table.InitializeMembershipTableAsync(tryInitTableVersion: true, cancel);
            var data = await table.ReadAllAsync(cancel);
            foreach (var (entry, _) in data.Members)
            {
                if (entry.Status != SiloStatus.Active) continue;
                var endpoint = entry.SiloAddress.Endpoint;
                bool sameName = string.Equals(entry.SiloName, siloName, StringComparison.Ordinal);
                bool sameEndpoint = endpoint.Equals(advertised);
                if (!sameName && !sameEndpoint) continue;
                if (!await Answers(endpoint, connectTimeout, cancel)) continue;   // a dead entry: this silo's predecessor
                string other = $"active silo '{entry.SiloName}' at {endpoint} (host {entry.HostName}, started {entry.StartTime:u})";
                return sameName
                    ? $"{section}:SiloName: '{siloName}' is already used by {other}; give every silo its own name"
                    : $"{section}:AdvertisedAddress/{section}:SiloPort: {advertised} is already used by {other}; give every silo its own address or port";
            }
            return null;
        }
        finally
        {
            switch (table)
            {
                case IAsyncDisposable a: await a.DisposeAsync(); break;
                case IDisposable d: d.Dispose(); break;
            }
        }
    }

    static async Task<bool> Answers(IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancel)
    {
        using var client = new TcpClient(endpoint.AddressFamily);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(timeout);
        try
        {
            await client.ConnectAsync(endpoint, limit.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancel.IsCancellationRequested)
        {
            return false;
        }
    }
}
