using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;
using QstOrleans.Contracts;
using QstOrleans.Contracts.Security;
using Orleans.Runtime;

namespace QstOrleans.Client;

/// <summary>
/// Puts a <see cref="QstClient"/> into an app's own host, so the Orleans client uses the app's logging, configuration and
/// lifetime: <c>builder.AddQstClient(options)</c> on a <see cref="IHostApplicationBuilder"/>, or, for an app that configures
/// its Orleans client itself, <c>client.UseQstCluster(options)</c> plus <c>services.AddQstClient()</c>.
/// </summary>
public static class QstClientServiceCollectionExtensions
{
    /// <summary>Configures the app's Orleans client for the QST cluster in <paramref name="options"/> and registers <see cref="QstClient"/>.</summary>
    public static IHostApplicationBuilder AddQstClient(this IHostApplicationBuilder builder, QstClientOptions options)
    {
        options.Validate();
        builder.UseOrleansClient(client => client.UseQstCluster(options));
        builder.Services.AddQstClient();
        return builder;
    }

    /// <summary>Registers <see cref="QstClient"/> (a singleton) over the app's <see cref="IClusterClient"/>; the host owns the connection.</summary>
    public static IServiceCollection AddQstClient(this IServiceCollection services)
    {
        services.AddSingleton(sp => new QstClient(sp.GetRequiredService<IClusterClient>()));
        return services;
    }

    /// <summary>
    /// Points an Orleans client at a QST cluster: localhost gateways or Redis clustering, the silos' cluster and service
    /// ids and message size limit, and retries while silos are still starting.
    /// </summary>
    public static IClientBuilder UseQstCluster(this IClientBuilder client, QstClientOptions options)
    {
        options.Validate();
        if (options.RedisConnectionString is { } redis)
        {
            client.UseRedisClustering(o => o.ConfigurationOptions = ClientRedis.Options(redis, options, out _));
            client.Configure<ClusterOptions>(c => (c.ClusterId, c.ServiceId) = (options.ClusterId, options.ServiceId));
        }
        else
        {
            client.UseLocalhostClustering(options.GatewayPorts.ToArray(), options.ServiceId, options.ClusterId);
        }
        if (options.Tls is { IsSet: true } files)
        {
            // Mutual TLS (the silos' Qst:Tls:*): this client's certificate, and only peers signed by the cluster CA.
            var tls = ClusterCertificates.Load(files, QstClientOptions.TlsOptionNames);
            client.UseTls(tls.Local, tls.ConfigureMutualTls);
        }
        if (options.Token is { } token)
        {
            // Every call carries the token; the gateway silo verifies and removes it (async: the caller's context stays clean).
            client.AddOutgoingGrainCallFilter(async call =>
            {
                RequestContext.Set(QstAuth.TokenKey, token);
                await call.Invoke();
            });
        }
        client.Configure<ClientMessagingOptions>(m => m.MaxMessageBodySize = Messaging.DefaultMaxMessageBodyBytes);
        client.Configure<GatewayOptions>(g => g.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
        // Silos may still be starting (scripts launch everything at once): retry until the start is cancelled (ConnectTimeout).
        client.UseConnectionRetryFilter(async (_, token) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), token);
            return !token.IsCancellationRequested;
        });
        return client;
    }
}
