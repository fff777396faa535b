using System.Net;
using System.Net.Sockets;
using QstOrleans.Contracts.Security;
using StackExchange.Redis;

namespace QstOrleans.Client;

/// <summary>
/// Checks, before an Orleans client starts, what would otherwise surface only as the start's timeout: Redis unreachable,
/// no cluster under the ids in Redis, nothing listening on the gateway ports. Each is a distinct
/// <see cref="QstConnectionException"/> within seconds.
/// </summary>
internal static class ClusterProbe
{
    /// <summary>How long one probe waits for Redis or a gateway port to answer.</summary>
    static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    public static Task CheckAsync(QstClientOptions options, CancellationToken cancel) =>
        options.RedisConnectionString is { } redis ? CheckRedisAsync(redis, options, cancel) : CheckGatewaysAsync(options, cancel);

    static async Task CheckRedisAsync(string redis, QstClientOptions options, CancellationToken cancel)
    {
        var config = ClientRedis.Options(redis, options, out var ca);
        config.AbortOnConnectFail = true;
        config.ConnectRetry = 1;
        config.ConnectTimeout = (int)Math.Min(ProbeTimeout.TotalMilliseconds, options.ConnectTimeout.TotalMilliseconds);
        ConnectionMultiplexer connection;
        try
        {
            connection = await ConnectionMultiplexer.ConnectAsync(config).WaitAsync(cancel);
        }
        catch (RedisConnectionException e) when (ca?.Rejection is not null)
        {
            // Before the password case: StackExchange.Redis reports a refused certificate as an "AuthenticationFailure" too.
            throw new QstConnectionException(ConnectionProblem.ClusteringStoreUnreachable, ca!.RejectionMessage(RedisSecrets.Redact(redis)), e);
        }
        catch (RedisConnectionException e) when (RedisSecrets.IsAuthenticationFailure(e))
        {
            throw new QstConnectionException(ConnectionProblem.ClusteringStoreUnreachable,
                $"Redis at {RedisSecrets.Redact(redis)} (--redis) refused the credentials: give its password in the connection string (--redis \"host:port,password=...\", or QST_REDIS)", e);
        }
        catch (RedisConnectionException e)
        {
            throw new QstConnectionException(ConnectionProblem.ClusteringStoreUnreachable,
                $"Redis at {RedisSecrets.Redact(redis)} (--redis) refused the connection or did not answer within {ProbeTimeout.TotalSeconds:F0} s: {FirstLine(e.Message)}", e);
        }
        await using (connection)
        {
            // Orleans' Redis membership table: one hash per cluster, "<service id>/members/<cluster id>".
            string key = $"{options.ServiceId}/members/{options.ClusterId}";
            if (await connection.GetDatabase().KeyExistsAsync(key)) return;
            var known = connection.GetServers().SelectMany(s => s.Keys(pattern: "*/members/*", pageSize: 100)).Take(20)
                .Select(k => k.ToString()).Distinct().Order(StringComparer.Ordinal).ToList();
            throw new QstConnectionException(ConnectionProblem.UnknownCluster,
                $"no cluster '{options.ClusterId}' (service '{options.ServiceId}') in Redis at {RedisSecrets.Redact(redis)}: check --cluster-id / --service-id; "
                + (known.Count > 0 ? $"clusters there (service/members/cluster): {string.Join(", ", known)}" : "no cluster has registered there (are the silos running with this --redis?)"));
        }
    }

    static async Task CheckGatewaysAsync(QstClientOptions options, CancellationToken cancel)
    {
        // Silos may still be starting (scripts launch everything at once): a refused port is retried for a few seconds.
        var deadline = DateTime.UtcNow + TimeSpan.FromTicks(Math.Min(options.NoSiloGrace.Ticks, options.ConnectTimeout.Ticks));
        while (true)
        {
            foreach (int port in options.GatewayPorts)
                if (await Listening(port, cancel)) return;
            if (DateTime.UtcNow >= deadline) break;
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancel);
        }
        throw new QstConnectionException(ConnectionProblem.NoSilo,
            $"no silo listens on gateway port(s) {string.Join(", ", options.GatewayPorts)} on 127.0.0.1 (--gateway): is the cluster running?");
    }

    static async Task<bool> Listening(int port, CancellationToken cancel)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !cancel.IsCancellationRequested))
        {
            return false;
        }
    }

    static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();
}
