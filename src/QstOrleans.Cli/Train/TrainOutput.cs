using QstOrleans.Client;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Cli.Train;

/// <summary>
/// <c>qst train --out DIR</c>: once the job has completed, downloads its result (<c>side_model.safetensors</c> +
/// <c>side_config.json</c>, as the cluster exported it at the last step) through the cluster into DIR
/// (<see cref="QstClientResults.DownloadResultAsync"/>). A failed download is reported once and makes the command exit 1,
/// although the job itself completed (its result stays in the cluster: <c>qst export --job ID --out DIR</c>).
/// </summary>
internal sealed class TrainOutput
{
    readonly string? _directory;

    TrainOutput(string? directory) => _directory = directory;

    public static Option<string?> CreateOption() =>
        new("--out") { Description = "Download the trained side network (side_model.safetensors + side_config.json) here when the job completes" };

    /// <summary>Checks the folder before anything trains.</summary>
    /// <exception cref="ArgumentException">It names an existing file.</exception>
    public static TrainOutput From(string? directory)
    {
        if (directory is not null && File.Exists(directory)) throw new ArgumentException($"--out: '{directory}' is a file; give a folder");
        return new TrainOutput(directory);
    }

    public bool Failed { get; private set; }

    /// <summary>Downloads the result when <paramref name="jobId"/> completed and a folder was given; otherwise does nothing.</summary>
    public async Task SaveAsync(QstClient client, string jobId, CancellationToken cancel = default)
    {
        if (_directory is null || (await client.StatusAsync(jobId)).State != JobState.Completed) return;
        try
        {
            var result = await client.DownloadResultAsync(jobId, _directory, cancel);
            foreach (var file in result.Files)
                Console.WriteLine($"saved {Path.Combine(_directory, file.Name)} ({file.Size:N0} bytes, sha256 {file.Sha256[..12]}…)");
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidDataException or IOException or UnauthorizedAccessException
                                      or Orleans.Runtime.OrleansException or TimeoutException)
        {
            Console.Error.WriteLine($"error: job {jobId} completed, but its result could not be saved to {_directory}: {e.Message}");
            Failed = true;
        }
    }

    /// <summary>The command's exit code: 1 instead of 0 when the download failed.</summary>
    public int ExitCode(int code) => code == 0 && Failed ? 1 : code;
}
