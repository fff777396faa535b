using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Orleans.Configuration;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Persistence;
using QstOrleans.Storage.Blobs;
using StackExchange.Redis;

namespace QstOrleans.Silo;

/// <summary>
/// Registers the storage a silo's grains rely on, as <see cref="SiloConfiguration"/> resolved it: the grain-state
/// provider <see cref="QstProviders.State"/> (Redis, Orleans' Azure Table or Blob provider, this project's blob provider on a
/// directory or Azure container, or memory)
/// and the reminder service (Redis or memory). Checkpoint blobs are the side trainer's business
/// (<see cref="CheckpointOptions"/>); they are only validated here.
/// </summary>
public static class SiloStorage
{
    public static ISiloBuilder AddQstStorage(this ISiloBuilder silo, SiloHostOptions host)
    {
        var state = host.State;
        switch (state.Provider)
        {
            case "redis":
                silo.AddRedisGrainStorage(QstProviders.State, o => o.ConfigurationOptions = SiloRedis.Options(host));
                break;
            // Orleans' own providers (Microsoft.Orleans.Persistence.AzureStorage): they create the table or container at start.
            case "azure-table":
                silo.AddAzureTableGrainStorage(QstProviders.State, o =>
                {
                    o.TableServiceClient = new TableServiceClient(state.ConnectionString);
                    o.TableName = state.Table;
                });
                break;
            case "azure-blob":
                silo.AddAzureBlobGrainStorage(QstProviders.State, o =>
                {
                    o.BlobServiceClient = new BlobServiceClient(state.ConnectionString);
                    o.ContainerName = state.Container;
                });
                break;
            case "blob" when state.Store == "azure":
                silo.AddBlobGrainStorage(QstProviders.State, _ =>
                {
                    // Resolved once, while the silo starts: creating the container here keeps the provider synchronous.
                    var container = new BlobContainerClient(state.ConnectionString, state.Container);
                    container.CreateIfNotExists();
                    return new AzureBlobStore(container);
                });
                break;
            case "blob":
                silo.AddBlobGrainStorage(QstProviders.State, _ => new LocalDirectoryBlobStore(state.Path));
                break;
            default:
                silo.AddMemoryGrainStorage(QstProviders.State);
                break;
        }
        if (host.Reminders == "redis")
            silo.UseRedisReminderService(o => o.ConfigurationOptions = SiloRedis.Options(host));
        else
            silo.UseInMemoryReminderService();
        return silo;
    }

    /// <summary>One line for the startup log.</summary>
    public static string Describe(SiloHostOptions host, QstSiloOptions silo)
    {
        var state = host.State;
        string stateText = state.Provider switch
        {
            "azure-table" => $"azure-table (table {state.Table})",
            "azure-blob" => $"azure-blob (container {state.Container})",
            "blob" when state.Store == "azure" => $"blob (azure container {state.Container})",
            "blob" => $"blob ({Path.GetFullPath(state.Path)})",
            var other => other!,
        };
        var cp = silo.Checkpoints;
        string checkpoints = cp.Store == "azure" ? $"azure container {cp.Container}" : Path.GetFullPath(cp.Path);
        return $"state {stateText}, reminders {host.Reminders}, checkpoints {checkpoints} (keep {cp.KeepLast})";
    }
}
