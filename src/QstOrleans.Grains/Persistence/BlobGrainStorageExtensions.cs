using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Grains.Persistence;

/// <summary>Registers <see cref="BlobGrainStorage"/> providers on a silo.</summary>
public static class BlobGrainStorageExtensions
{
    /// <summary>
    /// Adds a grain storage named <paramref name="name"/> on the blob store that <paramref name="store"/> returns
    /// (called once, when the provider is first resolved). The blob names carry the cluster's ServiceId, so several
    /// services can share one directory or container.
    /// </summary>
    public static ISiloBuilder AddBlobGrainStorage(this ISiloBuilder builder, string name, Func<IServiceProvider, IBlobStore> store,
        Action<BlobGrainStorageOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var services = builder.Services;
        var options = services.AddOptions<BlobGrainStorageOptions>(name);
        if (configure is not null) options.Configure(configure);
        services.AddTransient<IPostConfigureOptions<BlobGrainStorageOptions>, DefaultStorageProviderSerializerOptionsConfigurator<BlobGrainStorageOptions>>();
        services.AddGrainStorage(name, (sp, key) => new BlobGrainStorage(
            key,
            sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId,
            store(sp),
            sp.GetRequiredService<IOptionsMonitor<BlobGrainStorageOptions>>().Get(key).GrainStorageSerializer,
            sp.GetRequiredService<ILogger<BlobGrainStorage>>()));
        return builder;
    }

    /// <summary>Adds the blob grain storage as the default provider (grains whose state names no provider).</summary>
    public static ISiloBuilder AddBlobGrainStorageAsDefault(this ISiloBuilder builder, Func<IServiceProvider, IBlobStore> store,
        Action<BlobGrainStorageOptions>? configure = null) =>
        builder.AddBlobGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, store, configure);
}
