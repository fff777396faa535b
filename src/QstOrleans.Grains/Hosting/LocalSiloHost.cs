using System.Net;
using Orleans.Hosting;
using QstOrleans.Grains.Jobs;
using QstOrleans.Grains.Persistence;
using QstOrleans.Storage.Blobs;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Grains.Hosting;

/// <summary>
/// The one door for a cluster on this machine (the CLI's <c>--local</c> commands and pipeline bench): localhost
/// clustering, QstOrleans with the given device slots, job state in the blob grain storage under
/// <c>{state dir}/state</c>, checkpoints under <c>{state dir}/checkpoints</c>, in-memory reminders. Also reads what such
/// a cluster left on disk without starting one, so callers need no grain, persistence or storage types.
/// </summary>
public static class LocalSiloHost
{
    /// <summary>Stable across runs: the blob grain storage keys state by service id.</summary>
    public const string ServiceId = "qst-local";

    /// <summary>Where a local cluster on <paramref name="stateDirectory"/> keeps its checkpoints.</summary>
    public static string CheckpointDirectory(string stateDirectory) => Path.Combine(stateDirectory, "checkpoints");

    /// <summary>Where a local cluster on <paramref name="stateDirectory"/> keeps its grain state.</summary>
    public static string GrainStateDirectory(string stateDirectory) => Path.Combine(stateDirectory, "state");

    /// <summary>Configures <paramref name="silo"/> as one silo of a local cluster (see the class summary).</summary>
    /// <exception cref="ArgumentException">No device slot, or the same slot twice.</exception>
    public static ISiloBuilder AddQstLocal(this ISiloBuilder silo, LocalSiloOptions options)
    {
        if (options.Devices.Count == 0) throw new ArgumentException($"silo '{options.SiloName}' has no device slot");
        string state = Path.GetFullPath(options.StateDirectory);
        var primary = options.PrimarySiloPort is { } port ? new IPEndPoint(IPAddress.Loopback, port) : null;
        silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, primary, serviceId: ServiceId, clusterId: options.ClusterId);
        silo.AddQst(new QstSiloOptions
        {
            SiloName = options.SiloName,
            Slots = options.Devices.Select(d => new SlotOptions { Device = d, MemoryGiB = options.SlotMemoryGiB }).ToList(),
            Checkpoints = new CheckpointOptions { Store = "local", Path = CheckpointDirectory(state) },
            Auth = options.Auth,
        });
        silo.AddBlobGrainStorage(QstProviders.State, _ => new LocalDirectoryBlobStore(GrainStateDirectory(state)));
        // One process: a reminder would only re-activate a job in this same process; the startup task covers restarts.
        silo.UseInMemoryReminderService();
        return silo;
    }

    /// <summary>
    /// The committed checkpoints of job <paramref name="jobId"/> in a local cluster's state directory, oldest first,
    /// read from disk (no cluster is started, so nothing resumes as a side effect); empty when there are none.
    /// </summary>
    public static async Task<IReadOnlyList<CheckpointInfo>> ListCheckpointsAsync(string stateDirectory, string jobId)
    {
        string dir = CheckpointDirectory(Path.GetFullPath(stateDirectory));
        if (!Directory.Exists(dir)) return [];
        return await CheckpointListing.List(new CheckpointStore(new LocalDirectoryBlobStore(dir), CheckpointStores.Prefix(jobId)));
    }

    /// <summary>A fingerprint of the whole spec, for job ids derived from a command line (same spec, same id).</summary>
    public static string SpecFingerprint(JobSpec spec) => JobSpecHash.OfRequest(spec);
}
