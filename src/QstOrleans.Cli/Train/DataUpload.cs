using QstOrleans.Client;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Cli.Train;

/// <summary>
/// <c>qst train --upload auto|always|never</c>: how the <c>--data</c> file reaches a cluster. <c>never</c> sends the absolute
/// path (the silos open it: they must see the same file). <c>always</c> uploads the file into the cluster's store
/// (<see cref="QstClientDatasets.UploadDatasetAsync"/>) and sends its <c>store:</c> URI. <c>auto</c> (the default) asks the
/// cluster whether it reads the same file (same path inside its data roots, same size and SHA-256) and uploads only when it
/// does not. An in-process cluster (<c>--local</c>) always reads the path itself; a <c>store:</c> URI is sent as given.
/// Each choice prints one line saying what it did. <c>--model DIR</c> follows the same rule: a directory the silos do not see
/// (same path inside their model roots, same files) is uploaded (<see cref="QstClientModels.UploadModelAsync"/>) and named by its
/// <c>store:models/…</c> URI.
/// </summary>
internal static class DataUpload
{
    public static Option<string> CreateOption() => new Option<string>("--upload")
    {
        Description = "How --data and --model reach a cluster: auto (upload when the silos do not see the same files), always (upload), never (send the path)",
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

    /// <summary>The model reference as typed, made absolute unless it is a store URI (then only checked).</summary>
    /// <exception cref="ArgumentException">A malformed store URI (named).</exception>
    public static string ModelReference(string model)
    {
        if (!StoreUris.IsStoreUri(model)) return Path.GetFullPath(model);
        StoreUris.ParseModel(model);
        return model;
    }

    /// <summary>For an in-process cluster: only <c>auto</c>/<c>never</c> make sense (its silo is this process).</summary>
    public static void CheckLocal(string mode)
    {
        if (mode == "always") throw new ArgumentException("--upload always needs a cluster: the in-process silo of --local reads the --data file and --model directory itself");
    }

    /// <summary>What the job should name for <paramref name="data"/> (an absolute path or a store URI) on a remote cluster.</summary>
    public static async Task<string> ResolveAsync(QstClient client, string data, string mode, CancellationToken cancel)
    {
        if (StoreUris.IsStoreUri(data) || mode == "never") return data;
        var local = await QstClientDatasets.HashDatasetAsync(data, cancel);   // hashed once for the question and the upload
        if (mode == "auto" && await client.ClusterSeesAsync(local))
        {
            Console.WriteLine($"data: the cluster reads {data} itself (same size and SHA-256 there)");
            return data;
        }
        Console.WriteLine(mode == "auto"
            ? $"data: the cluster does not see {data} (outside its data roots, missing there or different): uploading {new FileInfo(data).Length} bytes"
            : $"data: uploading {data} ({new FileInfo(data).Length} bytes)");
        var upload = await client.UploadDatasetAsync(local, cancel: cancel);
        Console.WriteLine(Describe(upload));
        return upload.Uri;
    }

    /// <summary>What the job should name for <paramref name="model"/> (an absolute directory or a store URI) on a remote cluster.</summary>
    public static async Task<string> ResolveModelAsync(QstClient client, string model, string mode, CancellationToken cancel)
    {
        if (StoreUris.IsStoreUri(model) || mode == "never") return model;
        var local = await QstClientModels.HashModelAsync(model, cancel);   // every file hashed once for the question and the upload
        if (mode == "auto" && await client.ClusterSeesModelAsync(local))
        {
            Console.WriteLine($"model: the cluster reads {model} itself (same files, sizes and SHA-256 there)");
            return model;
        }
        Console.WriteLine(mode == "auto"
            ? $"model: the cluster does not see {model} (outside its model roots, missing there or different): uploading it"
            : $"model: uploading {model}");
        var upload = await client.UploadModelAsync(local, cancel: cancel);
        Console.WriteLine(Describe(upload));
        return upload.Uri;
    }

    /// <summary>One line on a dataset upload (also <c>qst upload</c>'s).</summary>
    public static string Describe(DatasetUpload upload) => upload.AlreadyStored
        ? $"data: already in the cluster's store as {upload.Uri} (nothing sent)"
        : $"data: stored as {upload.Uri} in {upload.Location} ({upload.SentBytes} bytes sent" +
          (upload.ResumedAtByte > 0 ? $", resumed at byte {upload.ResumedAtByte})" : ")");

    /// <summary>One line on a model upload (also <c>qst upload</c>'s).</summary>
    public static string Describe(ModelUpload upload) => upload.AlreadyStored
        ? $"model: already in the cluster's store as {upload.Uri} (nothing sent)"
        : $"model: stored as {upload.Uri} in {upload.Location} ({upload.Files} files, {upload.Size} bytes; {upload.SentBytes} bytes sent)";
}
