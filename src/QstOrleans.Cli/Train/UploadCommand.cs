using QstOrleans.Cli.Cluster;
using QstOrleans.Client;

namespace QstOrleans.Cli.Train;

/// <summary>
/// <c>qst upload (--data FILE | --model DIR)</c>: puts a dataset or a model directory into the cluster's store (chunked,
/// checksummed, resumable: run the same command again after an interruption and only the rest is sent) and prints its store URI
/// on the last line, alone, so a script can take it: <c>store:datasets/{sha256}/{name}</c> for <c>--data</c>,
/// <c>store:models/{sha256}</c> for <c>--model</c> of <c>qst train</c> later. Exit codes: 0 stored (or already there), 2 bad
/// input (also a file the cluster refused: a checksum, a cap), 3 cluster unreachable, 130 interrupted.
/// </summary>
internal static class UploadCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "A data file on this machine to store in the cluster" };
        var model = new Option<string?>("--model") { Description = "A model directory on this machine (config.json, tokenizer, *.safetensors) to store in the cluster" };
        var connection = new ClusterConnection();
        var command = new Command("upload", "Upload a data file or a model directory into the cluster's store and print its store: URI.") { data, model };
        connection.AddTo(command);
        command.SetAction((p, cancel) => ClusterConnection.RunAsync(async () =>
        {
            var (file, directory) = (p.GetValue(data), p.GetValue(model));
            if ((file is null) == (directory is null)) throw new ArgumentException("give exactly one of --data FILE or --model DIR");
            if (file is not null && !File.Exists(file)) throw new ArgumentException($"--data '{file}' does not exist");
            await using var client = await connection.ConnectAsync(p, cancel);
            string uri;
            if (file is not null)
            {
                var upload = await client.UploadDatasetAsync(Path.GetFullPath(file), cancel: cancel);
                Console.WriteLine(DataUpload.Describe(upload));
                uri = upload.Uri;
            }
            else
            {
                var upload = await client.UploadModelAsync(directory!, cancel: cancel);
                Console.WriteLine(DataUpload.Describe(upload));
                uri = upload.Uri;
            }
            Console.WriteLine(uri);
            return 0;
        }));
        return command;
    }
}
