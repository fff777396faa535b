using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using QstOrleans.Grains.Stages;

namespace QstOrleans.Grains.Telemetry;

/// <summary>
/// Observable gauges over the live pipeline workers' <see cref="StageCounters"/> (stages and side trainers), read when an
/// exporter collects, so the workers' hot paths stay untouched: a worker registers its counters once with
/// <see cref="Track"/>. Workers are held weakly, so a deactivated grain's series simply disappears.
/// </summary>
public static class WorkerGauges
{
    sealed record Worker(string Role, string Name, string Silo, Func<int>? QueueDepth);

    static readonly ConditionalWeakTable<StageCounters, Worker> Live = new();
    static readonly Meter Meter = new(QstMeters.MeterName + ".Workers", "1.0");

    static WorkerGauges()
    {
        Meter.CreateObservableGauge("qst_worker_busy_fraction", () => Measure(c => c.AliveSeconds > 0 ? c.ComputeSeconds / c.AliveSeconds : 0),
            description: "Share of the worker's lifetime spent computing (stage forward, side micro-step)");
        Meter.CreateObservableGauge("qst_worker_wait_fraction", () => Measure(c => c.AliveSeconds > 0 ? c.WaitSeconds / c.AliveSeconds : 0),
            description: "Share of the worker's lifetime spent waiting for input (side trainer: waiting for taps)");
        Meter.CreateObservableCounter("qst_worker_wait_seconds_total", () => Measure(c => c.WaitSeconds),
            description: "Seconds the worker waited for input");
        Meter.CreateObservableCounter("qst_worker_micro_batches_total", () => Measure(c => (double)c.Processed),
            description: "Micro-batches the worker processed");
        Meter.CreateObservableCounter("qst_worker_bytes_sent_total", () => Measure(c => (double)c.BytesSent),
            description: "Bytes the worker sent downstream (hidden states and taps)");
        Meter.CreateObservableGauge("qst_worker_queue_depth", QueueDepths,
            description: "Micro-batches waiting in the worker's input queue (stages: at most Qst:StageQueueCapacity)");
    }

    /// <summary>Registers a worker's counters: <paramref name="role"/> is <c>stage</c> or <c>side</c>, <paramref name="name"/> its grain key.</summary>
    /// <param name="queueDepth">Reads the worker's input queue length at scrape time (thread-safe); null: no queue series.</param>
    public static void Track(StageCounters counters, string role, string name, string silo, Func<int>? queueDepth = null) =>
        Live.AddOrUpdate(counters, new Worker(role, name, silo, queueDepth));

    static IEnumerable<Measurement<int>> QueueDepths()
    {
        foreach (var (_, worker) in Live)
            if (worker.QueueDepth is { } read)
                yield return new Measurement<int>(read(), Labels(worker));
    }

    static IEnumerable<Measurement<double>> Measure(Func<StageCounters, double> read)
    {
        foreach (var (counters, worker) in Live)
            yield return new Measurement<double>(read(counters), Labels(worker));
    }

    static KeyValuePair<string, object?>[] Labels(Worker worker) =>
    [
        new("role", worker.Role), new("worker", worker.Name), new("silo", worker.Silo),
    ];
}
