using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Hosting;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Client;

/// <summary>
/// Drives training jobs on a QstOrleans cluster: submit, follow progress, list, status, pause, resume,
/// cancel, list checkpoints. <see cref="ConnectAsync"/> opens an Orleans client (localhost gateways or Redis clustering,
/// message limits equal to the silos'); the <see cref="QstClient(IGrainFactory)"/> constructor wraps a grain
/// factory that already exists (an in-process silo's, a test cluster's).
/// Throws <see cref="ArgumentException"/> for bad options and <see cref="QstConnectionException"/> (a
/// <see cref="TimeoutException"/>) when the cluster cannot be reached, with a distinct <see cref="ConnectionProblem"/>:
/// Redis unreachable, no such cluster in Redis, nothing on the gateway ports (each within seconds), or no silo accepting
/// the client within <see cref="QstClientOptions.ConnectTimeout"/>. Calls about one job throw <see cref="JobNotFoundException"/> for an unknown id;
/// <see cref="WatchAsync"/> pushes a job's steps and state changes as they happen.
/// </summary>
public sealed partial class QstClient : IAsyncDisposable
{
    readonly IGrainFactory _grains;
    readonly IHost? _host;
    int _disposed;

    /// <summary>A client over a grain factory that already exists (an in-process silo's, a test cluster's, the app's
    /// <see cref="IClusterClient"/>); disposing it leaves that factory alone.</summary>
    public QstClient(IGrainFactory grains) => _grains = grains;

    QstClient(IHost host)
    {
        _host = host;
        _grains = host.Services.GetRequiredService<IClusterClient>();
    }

    /// <summary>
    /// Connects to the cluster described by <paramref name="options"/> with a private Orleans client host (errors are
    /// logged to stderr). An app with its own host uses <see cref="QstClientServiceCollectionExtensions.AddQstClient(IHostApplicationBuilder, QstClientOptions)"/>
    /// instead, to share its logging and configuration.
    /// </summary>
    public static async Task<QstClient> ConnectAsync(QstClientOptions options, CancellationToken cancel = default)
    {
        options.Validate();
        await ClusterProbe.CheckAsync(options, cancel);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // Connection retries and the host's start failure are reported by the exception below, once.
        builder.Logging.SetMinimumLevel(LogLevel.Error)
            .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None)
            .AddFilter("Orleans.Messaging", LogLevel.None)
            .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.UseOrleansClient(client => client.UseQstCluster(options));
        var host = builder.Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(options.ConnectTimeout);
        try
        {
            await host.StartAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            host.Dispose();
            string where = options.RedisConnectionString is { } redis
                ? $"cluster '{options.ClusterId}' in Redis {QstOrleans.Contracts.Security.RedisSecrets.Redact(redis)}"
                : $"gateway port(s) {string.Join(", ", options.GatewayPorts)} on 127.0.0.1";
            string tlsHint = options.Tls is not { IsSet: true }
                ? "; if its silos use TLS (Qst:Tls:*), give this client a certificate of the cluster CA (--tls-cert, --tls-key, --tls-ca)"
                : "; or its silos refused this client's certificate (signed by another CA?) or do not use TLS";
            throw new QstConnectionException(ConnectionProblem.NotAccepted,
                $"no silo accepted the client within {options.ConnectTimeout.TotalSeconds:F0} s ({where}); are the silos up, and are --cluster-id / --service-id right?{tlsHint}");
        }
        catch
        {
            host.Dispose();
            throw;
        }
        return new QstClient(host);
    }

    /// <summary>The grain factory, for callers that need grains this class does not wrap.</summary>
    public IGrainFactory Grains => _grains;

    /// <summary>
    /// Submits <paramref name="spec"/> as job <paramref name="jobId"/> and says what happened
    /// (<see cref="JobSubmission.Outcome"/>): started, rejected (a bad spec: State = Failed with the reason), or an existing
    /// job of the same spec (already submitted, or already finished). Throws <see cref="JobSpecConflictException"/>, listing
    /// the differing fields, when <paramref name="jobId"/> names a job of another spec.
    /// </summary>
    public Task<JobSubmission> SubmitAsync(string jobId, JobSpec spec) => Job(jobId).Submit(spec);

    /// <summary>Every job submitted to the cluster with its current progress, in submission order.</summary>
    public async Task<IReadOnlyList<JobProgress>> ListAsync()
    {
        var ids = await _grains.GetGrain<IJobRegistryGrain>(0).List();
        return await Task.WhenAll(ids.Select(id => Job(id).GetProgress()));
    }

    /// <summary>The job's progress. Throws <see cref="JobNotFoundException"/> for an id no job was submitted under.</summary>
    public Task<JobProgress> StatusAsync(string jobId) => Job(jobId).GetProgress();

    /// <summary>The job's progress, or null when no job was submitted under <paramref name="jobId"/>.</summary>
    public async Task<JobProgress?> FindAsync(string jobId)
    {
        try { return await Job(jobId).GetProgress(); }
        catch (JobNotFoundException) { return null; }
    }

    /// <summary>Cancels the job (a finished one stays as it is). Throws <see cref="JobNotFoundException"/> for an unknown id,
    /// and creates nothing under it.</summary>
    public Task CancelAsync(string jobId) => Job(jobId).Cancel();

    /// <summary>
    /// Pauses a running job: no micro-batch is fed after this returns. The micro-batches already in flight are still
    /// applied (up to the job's window, possibly completing a step); with <paramref name="awaitQuiescence"/> the call
    /// returns only once none is left, so the job's step and weights no longer move, with the state that ended the wait
    /// (paused and quiescent; or finished, or resumed by someone else), and only once the job's record holding those steps
    /// is stored. A checkpoint upload that started before the pause still runs in the background and may commit after this
    /// returns (<see cref="JobProgress.LastCheckpointStep"/> can still move; the step and weights do not). Without
    /// <paramref name="awaitQuiescence"/>, returns null at once.
    /// Throws <see cref="JobNotFoundException"/> for an unknown id.
    /// </summary>
    public async Task<JobStateChanged?> PauseAsync(string jobId, bool awaitQuiescence = false, CancellationToken cancel = default)
    {
        await Job(jobId).Pause();
        if (!awaitQuiescence) return null;
        // Only state events: no step backlog, and later steps are filtered by the same cursor.
        await foreach (var e in WatchCore(jobId, int.MaxValue, int.MaxValue, cancel))
            if (e is JobStateChanged state && (state.IsQuiescent || state.IsFinished || state.State == JobState.Running))
                return state;
        return null;
    }

    /// <summary>Resumes a paused job, or recovers an unfinished one whose pipeline is gone from its latest checkpoint.
    /// Throws <see cref="JobNotFoundException"/> for an unknown id.</summary>
    public Task ResumeAsync(string jobId) => Job(jobId).Resume();

    /// <summary>The job's committed checkpoints, oldest first.</summary>
    public Task<IReadOnlyList<CheckpointInfo>> CheckpointsAsync(string jobId) => Job(jobId).ListCheckpoints();

    /// <summary>Asks a running job to commit a checkpoint at its next optimizer-step boundary, whatever its cadence; returns its
    /// last checkpoint step before the request (the requested one is the first larger <see cref="JobProgress.LastCheckpointStep"/>).
    /// Throws <see cref="JobNotFoundException"/> for an unknown id.</summary>
    public Task<int> RequestCheckpointAsync(string jobId) => Job(jobId).RequestCheckpoint();

    /// <summary>The device slots the cluster's silos offer.</summary>
    public Task<IReadOnlyList<DeviceSlot>> SlotsAsync() => _grains.GetGrain<IClusterSlotsGrain>(0).List();

    /// <summary>Failures a live cluster recovers from: a dead silo or gateway, a message lost with it.</summary>
    static bool IsTransient(Exception e) =>
        e is TimeoutException or Orleans.Runtime.OrleansMessageRejectionException or System.Net.Sockets.SocketException
        || e.GetType() == typeof(Orleans.Runtime.OrleansException)
        || e.GetType().FullName == "Orleans.Runtime.Messaging.ConnectionFailedException"
        // A watch whose grain-side enumerator expired (a paused job sends nothing for a while) or whose job grain moved
        // (its silo restarted): subscribe again after the last event seen.
        || e.GetType().Name == "EnumerationAbortedException";

    ITrainingJobGrain Job(string jobId)
    {
        if (string.IsNullOrWhiteSpace(jobId)) throw new ArgumentException("job id must not be empty");
        return _grains.GetGrain<ITrainingJobGrain>(jobId);
    }

    /// <summary>
    /// Stops and disposes the private client host of <see cref="ConnectAsync"/> (a client wrapping a grain factory owns
    /// nothing and disposes nothing). Idempotent and safe to call concurrently: only the first call stops the host.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_host is null || Interlocked.Exchange(ref _disposed, 1) == 1) return;
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(5));
        }
        finally
        {
            _host.Dispose();
        }
    }
}
