using QstOrleans.Client;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Cli.Train;

/// <summary>
/// <c>qst train --upload auto|always|never</c>: how the <c>--data</c> file reaches a cluster. <c>never</c> sends the absolute
/// path (the silos open it: they must see the same file). <c>always</c> uploads the file into the cluster's store
/// (<see cref="QstClientDatasets.UploadDatasetAsync"/>) and sends its <c>store:</c> URI. <c>auto</c> (the default) asks the
/// cluster whether it reads the same file (same path inside its data roots, same size and SHA-256) and uploads only when it
/// does not. An in-process cluster (<c>--local</c>) always reads the path itself; a <c>store:</c> URI is sent as given.
/// Each choice prints one line saying what it did.
/// </summary>
internal static class DataUpload
{
    public static Option<string> CreateOption() => new Option<string>("--upload")
    {
        Description = "How --data reaches a cluster: auto (upload when the silos do not see the same file), always (upload), never (send the path)",
        DefaultValueFactory = _ => "auto",
    }.AcceptOnlyFromAmong("auto", "always", "never");

    /// <summary>The data reference as typed, made absolute unless it is a store URI (then only checked).</summary>
    /// <exception cref="ArgumentException">A malformed store URI (named).</exception>
    public static string Reference(string data)
    {
        if (!StoreUris.IsStoreUri(data)) return Path.GetFullPath(data);
        StoreUris.ParseDataset(data);
        return data;
    }

    /// <summary>For an in-process cluster: only <c>auto</c>/<c>never</c> make sense (its silo is this process).</summary>
    public static void CheckLocal(string mode)
    {
        if (mode == "always") throw new ArgumentException("--upload always needs a cluster: the in-process silo of --local reads the --data file itself");
    }

    /// <summary>What the job should name for <paramref name="data"/> (an absolute path or a store URI) on a remote cluster.</summary>
    public static async Task<string> ResolveAsync(QstClient client, string data, string mode, CancellationToken cancel)
    {
        if (StoreUris.IsStoreUri(data) || mode == "never") return data;
        if (mode == "auto" && await client.ClusterSeesAsync(data, cancel))
        {
            Console.WriteLine($"data: the cluster reads {data} itself (same size and SHA-256 there)");
            return data;
        }
        Console.WriteLine(mode == "auto"
            ? $"data: the cluster does not see {data} (outside its data roots, missing there or different): uploading {new FileInfo(data).Length} bytes"
            : $"data: uploading {data} ({new FileInfo(data).Length} bytes)");
        var upload = await client.UploadDatasetAsync(data, cancel: cancel);
        Console.WriteLine(upload.AlreadyStored
            ? $"data: already in the cluster's store as {upload.Uri} (nothing sent)"
            : $"data: stored as {upload.Uri} in {upload.Location}");
        return upload.Uri;
    }
}
