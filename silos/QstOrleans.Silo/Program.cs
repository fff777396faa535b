using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using QstOrleans.Contracts.Security;
using QstOrleans.Grains.Hosting;
using QstOrleans.Silo;
using QstOrleans.Silo.Http;

// The QstOrleans silo: Generic Host + Orleans. Configuration: appsettings.json < environment variables
// (Qst__Clustering=redis) < command line (--Qst:Clustering redis). Bad values exit with code 2 and a message
// naming the key; a problem of the environment (Redis down, a port taken) exits with code 1 and one line naming the
// setting. Stopped by SIGTERM/Ctrl+C (the silo leaves the cluster gracefully). Qst:Http:Port serves /healthz, /readyz
// and /metrics.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory,
});
SiloHostOptions hostOptions;
QstSiloOptions siloOptions;
ClusterCertificates? tls;
try
{
    (hostOptions, siloOptions) = SiloConfiguration.Read(builder.Configuration);
    tls = hostOptions.Tls.IsSet ? ClusterCertificates.Load(hostOptions.Tls, ("Qst:Tls:Certificate", "Qst:Tls:Key", "Qst:Tls:Ca")) : null;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
try
{
    await StartupChecks.CheckRedisAsync(hostOptions, TimeSpan.FromSeconds(5));
    await StartupChecks.CheckAzureStateAsync(hostOptions, TimeSpan.FromSeconds(10));
}
catch (SiloStartupException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

builder.Logging.ClearProviders().AddSimpleConsole(c =>
{
    c.SingleLine = true;
    c.TimestampFormat = "HH:mm:ss.fff ";
});
// Under systemd (deploy/systemd): notify "ready" once started (Type=notify), journald log format; elsewhere a no-op.
builder.Services.AddSystemd();
builder.Services.AddSingleton(hostOptions).AddSingleton(hostOptions.Http).AddSingleton<SiloReadiness>();
builder.Services.AddQstTelemetry(hostOptions, siloOptions);
// Before Orleans: hosted services start in order, so liveness answers while the silo joins, and stop in reverse.
if (hostOptions.Http.Port > 0) builder.Services.AddHostedService<SiloHttpServer>();
builder.UseOrleans(silo =>
{
    silo.Configure<ClusterOptions>(c => (c.ClusterId, c.ServiceId) = (hostOptions.ClusterId, hostOptions.ServiceId));
    silo.Configure<SiloOptions>(s => s.SiloName = siloOptions.SiloName);
    if (hostOptions.Clustering == "redis")
    {
        silo.UseRedisClustering(o => o.ConfigurationOptions = SiloRedis.Options(hostOptions));
        silo.ConfigureEndpoints(IPAddress.Parse(hostOptions.AdvertisedAddress!), hostOptions.SiloPort, hostOptions.GatewayPort,
            hostOptions.ListenOnAnyHostAddress);
    }
    else
    {
        var primary = new IPEndPoint(IPAddress.Loopback, hostOptions.PrimarySiloPort ?? hostOptions.SiloPort);
        silo.UseLocalhostClustering(hostOptions.SiloPort, hostOptions.GatewayPort, primary, hostOptions.ServiceId, hostOptions.ClusterId);
    }
    silo.Configure<ClusterMembershipOptions>(m => hostOptions.FailureDetection.ApplyTo(m, hostOptions.FastFailureDetection));
    if (tls is not null) silo.UseTls(tls.Local, tls.ConfigureMutualTls);
    silo.AddQst(siloOptions);
    silo.AddQstStorage(hostOptions);
    if (hostOptions.Dashboard.Port > 0) silo.AddQstDashboard(hostOptions.Dashboard);
});

using var host = builder.Build();
var log = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("QstOrleans.Silo");
if (hostOptions.Clustering == "redis" && string.IsNullOrWhiteSpace(siloOptions.Auth.ClusterKeyFile))
    log.LogWarning("Qst:Auth:ClusterKeyFile is not set: the silos tell their own calls by the caller's client id, which a client can imitate; " +
        "give every silo the same key file (deploy/cluster-up.sh makes one)");
if (hostOptions.Clustering == "redis")
{
    // Before joining: a live silo with this name or endpoint is a configuration error, not a restart.
    var advertised = new IPEndPoint(IPAddress.Parse(hostOptions.AdvertisedAddress!), hostOptions.SiloPort);
    string? clash;
    try
    {
        clash = await SiloClashCheck.FindAsync(host.Services, SiloConfiguration.Section, siloOptions.SiloName, advertised,
            hostOptions.FailureDetection.EffectiveProbeTimeout(hostOptions.FastFailureDetection), CancellationToken.None);
    }
    catch (Exception e)
    {
        log.LogCritical("silo {Silo} failed to start: cannot read the membership table in {Redis}: {Message}", siloOptions.SiloName, RedisSecrets.Redact(hostOptions.Redis!), e.Message);
        return 1;
    }
    if (clash is not null)
    {
        Console.Error.WriteLine($"error: {clash}");
        return 2;
    }
}
try
{
    StartupChecks.CheckPorts(hostOptions);
    await host.StartAsync();
}
catch (Exception e)
{
    // One line: the setting when the cause is known (SiloStartupException), else Orleans' reason without its stack trace.
    var known = FindStartupException(e);
    Console.Error.WriteLine(known is not null ? $"error: {known.Message}" : $"error: silo {siloOptions.SiloName} failed to start: {e.GetBaseException().Message.Split('\n')[0]}");
    return 1;
}
log.LogInformation("silo {Silo} up: cluster {Cluster}/{Service} via {Clustering}{Advertised}, silo port {SiloPort}, gateway port {GatewayPort}, slots {Slots}, {Threads} compute threads; {Storage}",
    siloOptions.SiloName, hostOptions.ClusterId, hostOptions.ServiceId, hostOptions.Clustering,
    hostOptions.Clustering == "redis" ? $" advertising {hostOptions.AdvertisedAddress} ({hostOptions.AdvertisedAddressOrigin})" : "", hostOptions.SiloPort,
    hostOptions.GatewayPort, string.Join(", ", siloOptions.Slots.Select(s => $"{s.Device} ({s.MemoryGiB} GiB)")), ComputeThreads.Current,
    SiloStorage.Describe(hostOptions, siloOptions));
log.LogInformation("silo {Silo}: {AllocatorTuning}", siloOptions.SiloName, QstOrleans.Model.Devices.NativeAllocatorTuning.Current?.Describe());
await host.WaitForShutdownAsync();
return 0;

static SiloStartupException? FindStartupException(Exception? e) => e switch
{
    null => null,
    SiloStartupException s => s,
    AggregateException a => a.InnerExceptions.Select(FindStartupException).FirstOrDefault(x => x is not null),
    _ => FindStartupException(e.InnerException),
};
