using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using QstOrleans.Grains.Hosting;
using QstOrleans.Silo;

// The QstOrleans silo: Generic Host + Orleans. Configuration: appsettings.json < environment variables
// (Qst__Clustering=redis) < command line (--Qst:Clustering redis). Bad values exit with code 2 and a message
// naming the key. Stopped by SIGTERM/Ctrl+C (the silo leaves the cluster gracefully).
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory,
});
SiloHostOptions hostOptions;
QstSiloOptions siloOptions;
try
{
    (hostOptions, siloOptions) = SiloConfiguration.Read(builder.Configuration);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

builder.Logging.ClearProviders().AddSimpleConsole(c =>
{
    c.SingleLine = true;
    c.TimestampFormat = "HH:mm:ss.fff ";
});
builder.UseOrleans(silo =>
{
    silo.Configure<ClusterOptions>(c => (c.ClusterId, c.ServiceId) = (hostOptions.ClusterId, hostOptions.ServiceId));
    silo.Configure<SiloOptions>(s => s.SiloName = siloOptions.SiloName);
    if (hostOptions.Clustering == "redis")
    {
        silo.UseRedisClustering(hostOptions.Redis!);
        silo.ConfigureEndpoints(IPAddress.Parse(hostOptions.AdvertisedAddress), hostOptions.SiloPort, hostOptions.GatewayPort,
            hostOptions.ListenOnAnyHostAddress);
    }
    else
    {
        var primary = new IPEndPoint(IPAddress.Loopback, hostOptions.PrimarySiloPort ?? hostOptions.SiloPort);
        silo.UseLocalhostClustering(hostOptions.SiloPort, hostOptions.GatewayPort, primary, hostOptions.ServiceId, hostOptions.ClusterId);
    }
    if (hostOptions.FastFailureDetection)
    {
        // A lost silo is noticed in a few seconds instead of about a minute (small clusters, one host).
        silo.Configure<ClusterMembershipOptions>(m =>
        {
            m.ProbeTimeout = TimeSpan.FromSeconds(2);
            m.NumMissedProbesLimit = 2;
            m.NumVotesForDeathDeclaration = 1;
            // A silo starting after a crash of the whole cluster first checks connectivity with every silo still marked
            // Active in the table, and only skips those whose IAmAlive is older than NumMissedTableIAmAliveLimit x this
            // period (30 s by default: a full restart waited over a minute). 5 s makes the dead entries stale in 10 s.
            m.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
        });
    }
    silo.AddQst(siloOptions);
    silo.AddQstStorage(hostOptions);
});

using var host = builder.Build();
var log = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("QstOrleans.Silo");
try
{
    await host.StartAsync();
}
catch (Exception e)
{
    log.LogCritical("silo {Silo} failed to start: {Message}", siloOptions.SiloName, e.Message);
    return 1;
}
log.LogInformation("silo {Silo} up: cluster {Cluster}/{Service} via {Clustering}, silo port {SiloPort}, gateway port {GatewayPort}, slots {Slots}; {Storage}",
    siloOptions.SiloName, hostOptions.ClusterId, hostOptions.ServiceId, hostOptions.Clustering, hostOptions.SiloPort,
    hostOptions.GatewayPort, string.Join(", ", siloOptions.Slots.Select(s => $"{s.Device} ({s.MemoryGiB} GiB)")),
    SiloStorage.Describe(hostOptions, siloOptions));
await host.WaitForShutdownAsync();
return 0;
