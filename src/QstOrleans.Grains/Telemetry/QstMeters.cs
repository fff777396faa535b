using System.Diagnostics.Metrics;
using QstOrleans.Model.Training;

namespace QstOrleans.Grains.Telemetry;

/// <summary>
/// The training meters of a silo (meter <see cref="MeterName"/>; every instrument name starts with <c>qst_</c>). Call sites
/// record with one line; exporters (the silo's Prometheus endpoint, OTLP) subscribe by the meter name. Per-worker time
/// and traffic (busy fraction, wire bytes) are observable gauges over <see cref="WorkerGauges"/>, read at scrape time.
/// Names follow Prometheus conventions: counters end in <c>_total</c>, so the exporter keeps them as they are.
/// Wire bytes per token is a ratio of two counters: <c>rate(qst_worker_bytes_sent_total) / rate(qst_tokens_total)</c>.
/// </summary>
public static class QstMeters
{
    /// <summary>The <see cref="Meter"/> name exporters subscribe to.</summary>
    public const string MeterName = "QstOrleans";

    static readonly Meter Meter = new(MeterName, "1.0");

    /// <summary>Tokens of micro-batches the side trainer applied (all jobs on this silo's job grains).</summary>
    public static readonly Counter<long> Tokens = Meter.CreateCounter<long>("qst_tokens_total", description: "Tokens of applied micro-batches");
    static readonly Counter<long> Steps = Meter.CreateCounter<long>("qst_steps_total", description: "Optimizer steps completed");
    static readonly Counter<long> MicroBatches = Meter.CreateCounter<long>("qst_micro_batches_total", description: "Micro-batches applied by side trainers");
    static readonly Gauge<double> Loss = Meter.CreateGauge<double>("qst_loss", description: "Loss of the job's last completed step");
    static readonly Gauge<double> LearningRate = Meter.CreateGauge<double>("qst_learning_rate", description: "Learning rate of the job's last completed step");
    static readonly Gauge<long> Step = Meter.CreateGauge<long>("qst_step", description: "The job's last completed optimizer step");
    static readonly Counter<long> Recoveries = Meter.CreateCounter<long>("qst_recoveries_total", description: "Job recoveries started (a fault, a lost pipeline)");
    static readonly Counter<long> Checkpoints = Meter.CreateCounter<long>("qst_checkpoints_total", description: "Checkpoints committed to the job record");
    static readonly Gauge<long> CheckpointStep = Meter.CreateGauge<long>("qst_checkpoint_step", description: "Step of the job's latest committed checkpoint");
    static readonly Histogram<double> CheckpointSeconds = Meter.CreateHistogram<double>("qst_checkpoint_duration_seconds",
        description: "Checkpoint time by phase: save (the consistent cut, on the side trainer's worker) and upload (to the store, in the background)");
    static readonly Gauge<long> CheckpointBytes = Meter.CreateGauge<long>("qst_checkpoint_bytes", description: "Size of the job's latest committed checkpoint");
    static readonly Counter<long> CheckpointBytesWritten = Meter.CreateCounter<long>("qst_checkpoint_written_bytes_total", description: "Bytes of committed checkpoints");

    /// <summary>The job grain saw one micro-batch applied; <paramref name="stepCompleted"/> also records the step's loss and lr.</summary>
    /// <param name="schedule">The job's learning-rate schedule; the lr recorded is the one step <paramref name="step"/> used.</param>
    public static void MicroBatchApplied(string job, int step, float stepLoss, bool stepCompleted, LrSchedule schedule)
    {
        var tag = new KeyValuePair<string, object?>("job", job);
        MicroBatches.Add(1, tag);
        if (!stepCompleted) return;
        Steps.Add(1, tag);
        Step.Record(step, tag);
        Loss.Record(stepLoss, tag);
        LearningRate.Record(schedule.At(step - 1), tag);   // step is 1-based; At takes the 0-based update index
    }

    public static void RecoveryStarted(string job) => Recoveries.Add(1, new KeyValuePair<string, object?>("job", job));

    /// <summary>The side trainer committed a checkpoint of <paramref name="bytes"/> (data blobs) to the store.</summary>
    public static void CheckpointWritten(string job, double saveSeconds, double uploadSeconds, long bytes)
    {
        var tag = new KeyValuePair<string, object?>("job", job);
        CheckpointSeconds.Record(saveSeconds, tag, new KeyValuePair<string, object?>("phase", "save"));
        CheckpointSeconds.Record(uploadSeconds, tag, new KeyValuePair<string, object?>("phase", "upload"));
        CheckpointBytes.Record(bytes, tag);
        CheckpointBytesWritten.Add(bytes, tag);
    }

    public static void CheckpointCommitted(string job, int step)
    {
        var tag = new KeyValuePair<string, object?>("job", job);
        Checkpoints.Add(1, tag);
        CheckpointStep.Record(step, tag);
    }
}
