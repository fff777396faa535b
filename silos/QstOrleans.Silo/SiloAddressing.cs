using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace QstOrleans.Silo;

/// <summary>
/// The address a silo advertises in the membership table (Redis clustering). Never 127.0.0.1 by assumption: two hosts
/// that both advertise loopback each probe themselves and declare the other dead ("I have been told I am dead").
/// Given (<c>Qst:AdvertisedAddress</c>): it must be a concrete address, and not loopback when Redis is on another host.
/// Empty: the address of the interface that routes to the Redis server (a UDP socket "connected" to it, no packet sent),
/// which is loopback exactly when Redis is on this host's loopback, i.e. a one-host cluster.
/// </summary>
public static class SiloAddressing
{
    /// <summary>Returns the address to advertise and how it was chosen (for the start-up log).</summary>
    /// <exception cref="ArgumentException">Names <c>Qst:AdvertisedAddress</c> (or <c>Qst:Redis</c>) and says what to set.</exception>
    public static (IPAddress Address, string How) Resolve(string? configured, string redis, string section)
    {
        string key = $"{section}:AdvertisedAddress";
        var redisAddress = RedisAddress(redis, section, out var redisEndPoint);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            if (!IPAddress.TryParse(configured.Trim(), out var address))
                throw new ArgumentException($"{key}: '{configured}' is not an IP address");
            if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
                throw new ArgumentException($"{key}: {address} is not an address other hosts can reach; give this host's address " +
                                            $"(use {section}:ListenOnAnyHostAddress to listen on every interface)");
            if (IPAddress.IsLoopback(address) && redisAddress is not null && !IPAddress.IsLoopback(redisAddress))
                throw new ArgumentException($"{key}: {address} is a loopback address but {section}:Redis ({redisEndPoint}) is on another host: " +
                                            "silos on other hosts could not reach this one; give this host's address on the cluster network (or leave it empty to detect it)");
            return (address, "configured");
        }
        if (redisAddress is null)
            throw new ArgumentException($"{key}: not set, and the host of {section}:Redis ({redisEndPoint}) does not resolve, so the address that routes to it cannot be detected; set it");
        try
        {
            using var probe = new Socket(redisAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            probe.Connect(redisAddress, 9);   // UDP: picks the route and the source address, sends nothing
            var local = ((IPEndPoint)probe.LocalEndPoint!).Address;
            return (local, $"detected: the interface that routes to Redis at {redisAddress}");
        }
        catch (SocketException e)
        {
            throw new ArgumentException($"{key}: not set, and no route to {section}:Redis ({redisAddress}) to detect it from ({e.Message}); set it");
        }
    }

    /// <summary>The first endpoint of the Redis connection string, resolved; null when its host name does not resolve.</summary>
    static IPAddress? RedisAddress(string redis, string section, out string shown)
    {
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(redis);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{section}:Redis: '{QstOrleans.Contracts.Security.RedisSecrets.Redact(redis)}' is not a Redis connection string: {e.Message}");
        }
        var endPoint = options.EndPoints.FirstOrDefault()
            ?? throw new ArgumentException($"{section}:Redis: '{QstOrleans.Contracts.Security.RedisSecrets.Redact(redis)}' names no server (e.g. 10.0.0.5:6379)");
        shown = endPoint.ToString() ?? redis;
        switch (endPoint)
        {
            case IPEndPoint ip:
                return ip.Address;
            case DnsEndPoint dns:
                try
                {
                    return Dns.GetHostAddresses(dns.Host).OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).FirstOrDefault();
                }
                catch (SocketException)
                {
                    return null;
                }
            default:
                return null;
        }
    }
}
