using QstOrleans.Contracts.Wire;
using QstOrleans.Grains.Hosting;

namespace QstOrleans.Cli.Cluster;

/// <summary>
/// <c>qst checkpoints JOB</c>: the job's committed checkpoints (step, time, size, which one is latest), asked from
/// the job grain of a cluster; with <c>--local</c>, read straight from the state directory of <c>qst train --local</c>
/// (no cluster is started, so nothing resumes as a side effect). Exit 0 (also when there are none), 2/3 as usual.
/// </summary>
internal static class CheckpointsCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var local = new Option<bool>("--local") { Description = "Read the checkpoints of a `qst train --local` job from its state directory" };
        var stateDir = new Option<string?>("--state-dir") { Description = $"--local: the state directory (default {EmbeddedDefaults.StateDirectory})" };
        var connection = new ClusterConnection();
        var command = new Command("checkpoints", "List a job's committed checkpoints.") { job, local, stateDir };
        connection.AddTo(command);
        command.SetAction((p, cancel) => ClusterConnection.RunAsync(async () =>
        {
            string id = p.GetValue(job)!;
            IReadOnlyList<CheckpointInfo> rows;
            if (p.GetValue(local))
                rows = await LocalSiloHost.ListCheckpointsAsync(p.GetValue(stateDir) ?? EmbeddedDefaults.StateDirectory, id);
            else
            {
                await using var client = await connection.ConnectAsync(p, cancel);
                rows = await client.CheckpointsAsync(id);
            }
            foreach (var line in Format(id, rows)) Console.WriteLine(line);
            return 0;
        }));
        return command;
    }

    public static IEnumerable<string> Format(string jobId, IReadOnlyList<CheckpointInfo> rows)
    {
        if (rows.Count == 0)
        {
            yield return $"job {jobId}: no committed checkpoints";
            yield break;
        }
        yield return $"{"step",8}  {"created (UTC)",-19}  {"size",10}  latest  location";
        foreach (var r in rows)
            yield return string.Create(CultureInfo.InvariantCulture,
                $"{r.Step,8}  {r.CreatedUtc.UtcDateTime,-19:yyyy-MM-dd HH:mm:ss}  {Size(r.Bytes),10}  {(r.IsLatest ? "*" : ""),-6}  {r.Location}");
    }

    static string Size(long bytes) => bytes switch
    {
        >= 1 << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1 << 30):F2} GiB"),
        >= 1 << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1 << 20):F2} MiB"),
        >= 1 << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        _ => $"{bytes} B",
    };
}
