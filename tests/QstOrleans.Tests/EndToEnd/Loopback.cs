using System.Net;
using System.Net.Sockets;

namespace QstOrleans.Tests.EndToEnd;

/// <summary>Helpers for services the tests start on 127.0.0.1: free ports, readiness, redis-server.</summary>
internal static class Loopback
{
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits until 127.0.0.1:<paramref name="port"/> accepts connections; fails with the owner's output if it exits first.</summary>
    public static void WaitForPort(int port, TimeSpan timeout, ChildProcess owner)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !owner.HasExited)
            {
                Thread.Sleep(50);
            }
            catch (SocketException)
            {
                throw new InvalidOperationException($"{owner.Name} is not listening on 127.0.0.1:{port}:\n{owner.Output}");
            }
        }
    }

    public static string FindRedisServer()
    {
        var directories = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/sbin", "/usr/local/bin"]);
        return directories.Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                "redis-server is not installed; the end-to-end tests need it for Orleans' Redis clustering. Install it with: " +
                "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server   (.ci/run does this by itself)");
    }

    /// <summary>Starts redis-server (no persistence) on a free port and waits for it.</summary>
    public static (ChildProcess Process, int Port) StartRedis(string workingDirectory, params string[] extraArguments)
    {
        int port = FreePort();
        var redis = new ChildProcess("redis-server", FindRedisServer(),
            ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", .. extraArguments], workingDirectory);
        try
        {
            WaitForPort(port, TimeSpan.FromSeconds(10), redis);
        }
        catch
        {
            redis.Dispose();
            throw;
        }
        return (redis, port);
    }
}
