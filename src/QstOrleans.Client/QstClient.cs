using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Hosting;
using QstOrleans.Contracts;
using QstOrleans.Contracts.Grains;
using QstOrleans.Contracts.Security;
using QstOrleans.Contracts.Wire;

namespace QstOrleans.Client;

/// <summary>
/// Drives training jobs on a QstOrleans cluster: submit, follow progress, list, status, pause, resume,
/// cancel, list checkpoints. <see cref="ConnectAsync"/> opens an Orleans client (localhost gateways or Redis clustering,
/// message limits equal to the silos'); the <see cref="QstClient(IGrainFactory)"/> constructor wraps a grain
/// factory that already exists (an in-process silo's, a test cluster's).
/// Throws <see cref="ArgumentException"/> for bad options, <see cref="TimeoutException"/> when no gateway
/// answers within <see cref="QstClientOptions.ConnectTimeout"/>, and Redis' connection exception when the
/// membership table cannot be reached.
/// </summary>
public sealed class QstClient : IAsyncDisposable
{
    readonly IGrainFactory _grains;
    readonly IHost? _host;

    public QstClient(IGrainFactory grains) => _grains = grains;

    QstClient(IHost host)
    {
        _host = host;
        _grains = host.Services.GetRequiredService<IClusterClient>();
    }

    /// <summary>Connects to the cluster described by <paramref name="options"/>.</summary>
    public static async Task<QstClient> ConnectAsync(QstClientOptions options, CancellationToken cancel = default)
    {
        options.Validate();
        var tls = options.Tls is { IsSet: true } files ? ClusterCertificates.Load(files, ("--tls-cert", "--tls-key", "--tls-ca")) : null;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // Connection retries and the host's start failure are reported by the exception below, once.
        builder.Logging.SetMinimumLevel(LogLevel.Error)
            .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None)
            .AddFilter("Orleans.Messaging", LogLevel.None)
            .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.UseOrleansClient(client =>
        {
            if (options.RedisConnectionString is { } redis)
            {
                client.UseRedisClustering(redis);
                client.Configure<ClusterOptions>(c => (c.ClusterId, c.ServiceId) = (options.ClusterId, options.ServiceId));
            }
            else
            {
                client.UseLocalhostClustering(options.GatewayPorts.ToArray(), options.ServiceId, options.ClusterId);
            }
            if (tls is not null) client.UseTls(tls.Local, tls.ConfigureMutualTls);
            client.Configure<ClientMessagingOptions>(m => m.MaxMessageBodySize = Messaging.DefaultMaxMessageBodyBytes);
            client.Configure<GatewayOptions>(g => g.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            // Silos may still be starting (scripts launch everything at once): retry until the timeout.
            client.UseConnectionRetryFilter(async (_, token) =>
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), token);
                return !token.IsCancellationRequested;
            });
        });
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
                ? $"cluster '{options.ClusterId}' in Redis {redis}"
                : $"gateway port(s) {string.Join(", ", options.GatewayPorts)} on 127.0.0.1";
            string tlsHint = tls is null
                ? "; if its silos use TLS (Qst:Tls:*), give this client a certificate of the cluster CA (--tls-cert, --tls-key, --tls-ca)"
                : "; or its silos refused this client's certificate (signed by another CA?) or do not use TLS";
            throw new TimeoutException($"no silo answered within {options.ConnectTimeout.TotalSeconds:F0} s ({where}); is the cluster running?{tlsHint}");
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

    /// <summary>Starts job <paramref name="jobId"/>. A rejected spec comes back as State = Failed with the reason.</summary>
    public Task<JobProgress> SubmitAsync(string jobId, JobSpec spec) => Job(jobId).Start(spec);

    /// <summary>How long <see cref="FollowAsync"/> waits for one progress answer before asking again.</summary>
    public static readonly TimeSpan ProgressCallTimeout = TimeSpan.FromSeconds(10);
    /// <summary>How long <see cref="FollowAsync"/> rides out a cluster that does not answer (silos dying, the job
    /// grain re-activating elsewhere) before it gives up with the last error.</summary>
    public static readonly TimeSpan FollowOutageLimit = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Polls the job every <paramref name="pollInterval"/> and yields each snapshot that differs from the
    /// previous one (state, step, epoch, attempt or message), ending with the finished one. Calls that fail because
    /// a silo died (timeouts, rejected messages, the client's gateway gone) are retried for up to
    /// <see cref="FollowOutageLimit"/>: the job recovers meanwhile, and the client moves to a live gateway.
    /// </summary>
    public async IAsyncEnumerable<JobProgress> FollowAsync(string jobId, TimeSpan pollInterval,
        [EnumeratorCancellation] CancellationToken cancel = default)
    {
        var job = Job(jobId);
        JobProgress? last = null;
        DateTime? failingSince = null;
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            JobProgress progress;
            try
            {
                progress = await job.GetProgress().WaitAsync(ProgressCallTimeout, cancel);
                failingSince = null;
            }
            catch (Exception e) when (IsTransient(e) && !cancel.IsCancellationRequested
                                      && DateTime.UtcNow - (failingSince ??= DateTime.UtcNow) < FollowOutageLimit)
            {
                await Task.Delay(pollInterval, cancel);
                continue;
            }
            if (last is null || progress.Attempt != last.Attempt || progress.State != last.State || progress.Step != last.Step || progress.Epoch != last.Epoch
                || progress.Message != last.Message)
            {
                last = progress;
                yield return progress;
            }
            if (progress.IsFinished) yield break;
            await Task.Delay(pollInterval, cancel);
        }
    }

    /// <summary>Every job submitted to the cluster with its current progress, in submission order.</summary>
    public async Task<IReadOnlyList<JobProgress>> ListAsync()
    {
        var ids = await _grains.GetGrain<IJobRegistryGrain>(0).List();
        return await Task.WhenAll(ids.Select(id => Job(id).GetProgress()));
    }

    public Task<JobProgress> StatusAsync(string jobId) => Job(jobId).GetProgress();

    public Task CancelAsync(string jobId) => Job(jobId).Cancel();

    public Task PauseAsync(string jobId) => Job(jobId).Pause();

    /// <summary>Resumes a paused job, or recovers an unfinished one whose pipeline is gone from its latest checkpoint.</summary>
    public Task ResumeAsync(string jobId) => Job(jobId).Resume();

    /// <summary>The job's committed checkpoints, oldest first.</summary>
    public Task<IReadOnlyList<CheckpointInfo>> CheckpointsAsync(string jobId) => Job(jobId).ListCheckpoints();

    /// <summary>The device slots the cluster's silos offer.</summary>
    public Task<IReadOnlyList<DeviceSlot>> SlotsAsync() => _grains.GetGrain<IClusterSlotsGrain>(0).List();

    /// <summary>Failures a live cluster recovers from: a dead silo or gateway, a message lost with it.</summary>
    static bool IsTransient(Exception e) =>
        e is TimeoutException or Orleans.Runtime.OrleansMessageRejectionException or System.Net.Sockets.SocketException
        || e.GetType() == typeof(Orleans.Runtime.OrleansException)
        || e.GetType().FullName == "Orleans.Runtime.Messaging.ConnectionFailedException";

    ITrainingJobGrain Job(string jobId)
    {
        if (string.IsNullOrWhiteSpace(jobId)) throw new ArgumentException("job id must not be empty");
        return _grains.GetGrain<ITrainingJobGrain>(jobId);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is null) return;
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
