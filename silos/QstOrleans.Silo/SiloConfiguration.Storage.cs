using System.Text.RegularExpressions;
using QstOrleans.Grains.Hosting;

namespace QstOrleans.Silo;

/// <summary>Checks of the storage keys: <c>Qst:State:*</c>, <c>Qst:Reminders</c>, <c>Qst:Checkpoints:*</c>.</summary>
public static partial class SiloConfiguration
{
    // Azure container names: 3-63 characters, lower-case letters, digits and single hyphens, starting with a letter or digit.
    [GeneratedRegex(@"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex ContainerPattern();

    // Azure table names: 3-63 letters and digits, starting with a letter.
    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9]{2,62}$")]
    private static partial Regex TablePattern();

    static void CheckCheckpoints(CheckpointOptions checkpoints)
    {
        string key = $"{Section}:Checkpoints";
        string store = (checkpoints.Store ?? "").Trim().ToLowerInvariant();
        if (store is not ("local" or "azure"))
            throw new ArgumentException($"{key}:Store: unknown value '{checkpoints.Store}' (use local or azure)");
        checkpoints.Store = store;
        if (checkpoints.KeepLast < 1) throw new ArgumentException($"{key}:KeepLast: keep at least 1 checkpoint, got {checkpoints.KeepLast}");
        if (store == "local" && string.IsNullOrWhiteSpace(checkpoints.Path))
            throw new ArgumentException($"{key}:Path: a directory is required when {key}:Store is local");
        if (store == "azure")
        {
            if (string.IsNullOrWhiteSpace(checkpoints.ConnectionString))
                throw new ArgumentException($"{key}:ConnectionString: a storage connection string is required when {key}:Store is azure");
            CheckContainer($"{key}:Container", checkpoints.Container);
        }
    }

    static StateStorageOptions ReadState(SiloHostOptions host, CheckpointOptions checkpoints)
    {
        string key = $"{Section}:State";
        var state = host.State;
        string provider = string.IsNullOrWhiteSpace(state.Provider)
            ? (host.Clustering == "redis" ? "redis" : "blob")
            : state.Provider.Trim().ToLowerInvariant();
        if (provider is not ("memory" or "redis" or "blob" or "azure-table" or "azure-blob"))
            throw new ArgumentException($"{key}:Provider: unknown value '{state.Provider}' (use memory, redis, azure-table, azure-blob or blob)");
        if (provider == "redis" && string.IsNullOrWhiteSpace(host.Redis))
            throw new ArgumentException($"{key}:Provider: redis needs {Section}:Redis (a connection string, e.g. 127.0.0.1:6379)");
        string store = (state.Store ?? "").Trim().ToLowerInvariant();
        string? connection = state.ConnectionString;
        if (provider == "blob")
        {
            if (store is not ("local" or "azure"))
                throw new ArgumentException($"{key}:Store: unknown value '{state.Store}' (use local or azure)");
            if (store == "local" && string.IsNullOrWhiteSpace(state.Path))
                throw new ArgumentException($"{key}:Path: a directory is required when {key}:Store is local");
            if (store == "azure")
            {
                connection = AzureConnection(state, checkpoints, $"{key}:Store is azure");
                CheckContainer($"{key}:Container", state.Container);
            }
        }
        if (provider == "azure-blob")
        {
            connection = AzureConnection(state, checkpoints, $"{key}:Provider is azure-blob");
            CheckContainer($"{key}:Container", state.Container);
        }
        if (provider == "azure-table")
        {
            connection = AzureConnection(state, checkpoints, $"{key}:Provider is azure-table");
            if (!TablePattern().IsMatch(state.Table ?? ""))
                throw new ArgumentException($"{key}:Table: '{state.Table}' is not a valid table name (3-63 letters and digits, starting with a letter)");
        }
        return state with { Provider = provider, Store = store, ConnectionString = connection };
    }

    /// <summary>The state's own connection string, else the checkpoints' (the account a cluster already uses).</summary>
    static string AzureConnection(StateStorageOptions state, CheckpointOptions checkpoints, string when)
    {
        string key = $"{Section}:State";
        string? connection = string.IsNullOrWhiteSpace(state.ConnectionString) ? checkpoints.ConnectionString : state.ConnectionString;
        if (string.IsNullOrWhiteSpace(connection))
            throw new ArgumentException($"{key}:ConnectionString: required when {when} (or set {Section}:Checkpoints:ConnectionString)");
        return connection;
    }

    static string ReadReminders(SiloHostOptions host)
    {
        string key = $"{Section}:Reminders";
        string reminders = string.IsNullOrWhiteSpace(host.Reminders)
            ? (host.Clustering == "redis" ? "redis" : "memory")
            : host.Reminders.Trim().ToLowerInvariant();
        if (reminders is not ("memory" or "redis"))
            throw new ArgumentException($"{key}: unknown value '{host.Reminders}' (use memory or redis)");
        if (reminders == "redis" && string.IsNullOrWhiteSpace(host.Redis))
            throw new ArgumentException($"{key}: redis needs {Section}:Redis (a connection string, e.g. 127.0.0.1:6379)");
        return reminders;
    }

    static void CheckContainer(string key, string? container)
    {
        if (!ContainerPattern().IsMatch(container ?? ""))
            throw new ArgumentException($"{key}: '{container}' is not a valid container name (3-63 lower-case letters, digits and single hyphens)");
    }
}
