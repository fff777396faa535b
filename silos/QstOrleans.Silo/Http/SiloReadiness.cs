using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Placement;
using StackExchange.Redis;

namespace QstOrleans.Silo.Http;

/// <summary>One readiness condition: its name, whether it holds, and what was seen (shown by <c>/readyz</c>).</summary>
public sealed record ReadinessCheck(string Name, bool Ok, string Detail);

/// <summary>
/// When a silo is ready for work: it is Active in the cluster's membership, its device slots are published (silo
/// metadata, what job planning reads), and the storage it depends on answers (Redis, the state store: a directory, an
/// Azure table or container; the checkpoint store).
/// Each check is bounded by <see cref="CheckTimeout"/>, so <c>/readyz</c> answers promptly even while storage hangs.
/// </summary>
public sealed class SiloReadiness(IServiceProvider services, SiloHostOptions host, QstSiloOptions silo) : IAsyncDisposable
{
    static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(2);
    readonly SemaphoreSlim _redisGate = new(1, 1);
    ConnectionMultiplexer? _redis;

    public async Task<IReadOnlyList<ReadinessCheck>> CheckAsync(CancellationToken cancel)
    {
        var checks = new List<ReadinessCheck> { Cluster(), Slots() };
        if (host.Redis is not null && (host.Clustering == "redis" || host.State.Provider == "redis" || host.Reminders == "redis"))
            checks.Add(await Bounded("redis", RedisAsync, cancel));
        checks.Add(await Bounded("state", StateAsync, cancel));
        var cp = silo.Checkpoints;
        checks.Add(await Bounded("checkpoints", c => StoreAsync(cp.Store, cp.Path, cp.ConnectionString, cp.Container, createdOnFirstWrite: true, c), cancel));
        return checks;
    }

    ReadinessCheck Cluster()
    {
        var local = services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        var status = services.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.GetSiloStatus(local);
        return new("cluster", status == SiloStatus.Active, $"{local} is {status}");
    }

    ReadinessCheck Slots()
    {
        var local = services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        var published = SlotMetadata.Decode(services.GetRequiredService<ISiloMetadataCache>().GetSiloMetadata(local).Metadata);
        bool ok = published.Count == silo.Slots.Count;
        return new("slots", ok, ok ? string.Join(", ", published.Select(s => s.Id)) : $"{published.Count} of {silo.Slots.Count} published");
    }

    async Task<string> RedisAsync(CancellationToken cancel)
    {
        await _redisGate.WaitAsync(cancel);
        try
        {
            _redis ??= await ConnectionMultiplexer.ConnectAsync(Options(host));
        }
        finally
        {
            _redisGate.Release();
        }
        var latency = await _redis.GetDatabase().PingAsync();
        return $"{host.Redis} answered in {latency.TotalMilliseconds:F1} ms";
    }

    static ConfigurationOptions Options(SiloHostOptions host)
    {
        var options = SiloRedis.Options(host);
        options.AbortOnConnectFail = false;   // keep reconnecting in the background; a ping fails while it is down
        options.ConnectTimeout = options.SyncTimeout = options.AsyncTimeout = (int)CheckTimeout.TotalMilliseconds;
        return options;
    }

    Task<string> StateAsync(CancellationToken cancel)
    {
        var state = host.State;
        return state.Provider switch
        {
            "azure-table" => TableAsync(state.ConnectionString!, state.Table, cancel),
            "azure-blob" => StoreAsync("azure", state.Path, state.ConnectionString, state.Container, createdOnFirstWrite: false, cancel),
            "blob" => StoreAsync(state.Store, state.Path, state.ConnectionString, state.Container, createdOnFirstWrite: false, cancel),
            var other => Task.FromResult(other!),   // memory, redis (checked above)
        };
    }

    /// <summary>The table exists (the provider creates it while the silo starts) and the account answers a query.</summary>
    static async Task<string> TableAsync(string connection, string table, CancellationToken cancel)
    {
        // The name passed the configuration's table-name pattern (letters and digits), so it is safe in an OData filter.
        await foreach (var _ in new TableServiceClient(connection).QueryAsync(filter: $"TableName eq '{table}'", cancellationToken: cancel))
            return $"table {table}";
        throw new InvalidOperationException($"table {table} does not exist");
    }

    /// <param name="createdOnFirstWrite">The checkpoint store creates its container with the first checkpoint, so a new
    /// cluster is ready before any checkpoint (the account answering is what counts); grain-state providers create theirs
    /// while the silo starts, so there a missing container means it was deleted under the silo.</param>
    static async Task<string> StoreAsync(string store, string path, string? connection, string container, bool createdOnFirstWrite,
        CancellationToken cancel)
    {
        switch (store)
        {
            case "local":
                var full = Path.GetFullPath(path);
                Directory.CreateDirectory(full);   // what the store does on its first write
                return full;
            case "azure":
                var client = new BlobContainerClient(connection, container);
                if (await client.ExistsAsync(cancel)) return $"container {container}";
                if (createdOnFirstWrite) return $"container {container} (created by the first write)";
                throw new InvalidOperationException($"container {container} does not exist");
            default:
                return store;   // memory, redis (checked above)
        }
    }

    static async Task<ReadinessCheck> Bounded(string name, Func<CancellationToken, Task<string>> check, CancellationToken cancel)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(CheckTimeout);
        try
        {
            return new(name, true, await check(limit.Token).WaitAsync(limit.Token));
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return new(name, false, $"no answer within {CheckTimeout.TotalSeconds:F0} s");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new(name, false, e.Message.Split('\n')[0].Trim());
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null) await _redis.DisposeAsync();
    }
}
