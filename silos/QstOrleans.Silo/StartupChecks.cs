using System.Net;
using System.Net.Sockets;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using StackExchange.Redis;

namespace QstOrleans.Silo;

/// <summary>
/// Checks of the host's environment before the silo starts, so each problem is one line naming its setting instead of
/// an Orleans stack trace minutes later: every port this silo will listen on is free, and Redis and the Azure grain-state
/// account (when used) answer.
/// </summary>
public static class StartupChecks
{
    /// <summary>Redis answers a ping, when the silo uses it (clustering, grain state or reminders).</summary>
    /// <exception cref="SiloStartupException">Redis does not answer; the message names <c>Qst:Redis</c>.</exception>
    public static async Task CheckRedisAsync(SiloHostOptions host, TimeSpan timeout)
    {
        if (host.Redis is not null && (host.Clustering == "redis" || host.State.Provider == "redis" || host.Reminders == "redis"))
            await CheckRedis($"{SiloConfiguration.Section}:Redis", host, timeout);
    }

    /// <summary>
    /// The storage account of an Azure grain-state provider (<c>azure-table</c>, <c>azure-blob</c>) answers. Without this
    /// check the provider's own start fails after the SDK's retries, logged with stack traces and a message that names no
    /// setting. A missing table or container is fine: the provider creates it.
    /// </summary>
    /// <exception cref="SiloStartupException">The account does not answer or refuses the key; the message names <c>Qst:State:ConnectionString</c>.</exception>
    public static async Task CheckAzureStateAsync(SiloHostOptions host, TimeSpan timeout)
    {
        var state = host.State;
        if (state.Provider is not ("azure-table" or "azure-blob")) return;
        string key = $"{SiloConfiguration.Section}:State:ConnectionString";
        string service = state.Provider == "azure-table" ? "Azure Table Storage" : "Azure Blob Storage";
        Uri? endpoint = null;
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            if (state.Provider == "azure-table")
            {
                var tables = new TableServiceClient(state.ConnectionString, new TableClientOptions { Retry = { MaxRetries = 1 } });
                endpoint = tables.Uri;
                await using var first = tables.QueryAsync(filter: $"TableName eq '{state.Table}'", cancellationToken: limit.Token).GetAsyncEnumerator(limit.Token);
                await first.MoveNextAsync();
            }
            else
            {
                var container = new BlobContainerClient(state.ConnectionString, state.Container, new BlobClientOptions { Retry = { MaxRetries = 1 } });
                endpoint = container.Uri;
                await container.ExistsAsync(limit.Token);
            }
        }
        catch (Exception e) when (e is not SiloStartupException)
        {
            string reason = e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:F0} s" : e.GetBaseException().Message.Split('\n')[0].Trim();
            throw new SiloStartupException(endpoint is null
                ? $"{key}: not a usable {service} connection string ({reason})"
                : $"{key}: {service} at {endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/')} does not answer ({reason}); start it or fix the connection string");
        }
    }

    /// <summary>
    /// Every port this silo will listen on is free. Runs after <see cref="SiloClashCheck"/>, which explains a port held by a
    /// live member of the same cluster better (it names that silo).
    /// </summary>
    /// <exception cref="SiloStartupException">A port is taken; the message names its key.</exception>
    public static void CheckPorts(SiloHostOptions host)
    {
        string section = SiloConfiguration.Section;
        // Orleans listens on the advertised address (or every interface) with Redis clustering, on loopback otherwise.
        var siloAddress = host.Clustering != "redis" ? IPAddress.Loopback
            : host.ListenOnAnyHostAddress ? IPAddress.Any : IPAddress.Parse(host.AdvertisedAddress!);
        CheckFree($"{section}:SiloPort", siloAddress, host.SiloPort);
        CheckFree($"{section}:GatewayPort", siloAddress, host.GatewayPort);
        if (host.Http.Port > 0) CheckFree($"{section}:Http:Port", IPAddress.Parse(host.Http.Address), host.Http.Port);
        if (host.Dashboard.Port > 0) CheckFree($"{section}:Dashboard:Port", IPAddress.Parse(host.Dashboard.Address), host.Dashboard.Port);
    }

    static void CheckFree(string key, IPAddress address, int port)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new SiloStartupException($"{key}: port {port} on {address} is already in use (another silo or program on this host); give this silo its own port");
        }
        catch (SocketException e)
        {
            throw new SiloStartupException($"{key}: cannot listen on {address}:{port}: {e.Message}");
        }
    }

    static async Task CheckRedis(string key, SiloHostOptions host, TimeSpan timeout)
    {
        string connection = host.Redis!;
        var options = SiloRedis.Options(host, out var ca);
        options.AbortOnConnectFail = true;
        options.ConnectRetry = 1;
        options.ConnectTimeout = (int)timeout.TotalMilliseconds;
        try
        {
            await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
            await redis.GetDatabase().PingAsync();
        }
        catch (Exception) when (ca?.Rejection is not null)
        {
            // Before the password case: StackExchange.Redis reports a refused certificate as an "AuthenticationFailure" too.
            throw new SiloStartupException(ca!.RejectionMessage(QstOrleans.Contracts.Security.RedisSecrets.Redact(connection)));
        }
        catch (Exception e) when (QstOrleans.Contracts.Security.RedisSecrets.IsAuthenticationFailure(e))
        {
            throw new SiloStartupException($"{key}: Redis at {QstOrleans.Contracts.Security.RedisSecrets.Redact(connection)} refused the credentials: " +
                $"give its password in the connection string ({key} = \"host:port,password=...\")");
        }
        catch (Exception e) when (e is RedisException or SocketException or TimeoutException)
        {
            // StackExchange.Redis explains retries over several sentences; the first names what happened.
            string reason = e.Message.Split(". ")[0].Split('\n')[0].TrimEnd('.');
            throw new SiloStartupException($"{key}: Redis at {QstOrleans.Contracts.Security.RedisSecrets.Redact(connection)} does not answer ({reason}); start it or fix the connection string");
        }
    }
}
