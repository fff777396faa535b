using System.Diagnostics.Metrics;
using QstOrleans.Model.Devices;
using QstOrleans.Model.Quantization;

namespace QstOrleans.Grains.Telemetry;

/// <summary>
/// What the tensor engine costs on this silo, read at collection time: NF4 dequantization time (<see cref="Nf4DequantClock"/>,
/// every stage's forward decodes its frozen weights) and, for each <c>cuda:N</c> slot, device memory as the NVIDIA driver
/// reports it. A silo without CUDA slots (or without a driver) has no <c>qst_gpu_*</c> series at all.
/// </summary>
public static class EngineGauges
{
    static readonly Meter Meter = new(QstMeters.MeterName + ".Engine", "1.0");
    static int _registered;

    /// <summary>Creates the instruments once per process; <paramref name="devices"/> are the silo's slot devices (<c>cpu:0</c>, <c>cuda:1</c>).</summary>
    public static void Register(IEnumerable<string> devices)
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1) return;
        Meter.CreateObservableCounter("qst_nf4_dequant_seconds_total", () => Nf4DequantClock.Seconds,
            description: "Host time spent dequantizing NF4 weights (on CUDA: kernel launches, the kernels run asynchronously)");
        Meter.CreateObservableCounter("qst_nf4_dequant_calls_total", () => Nf4DequantClock.Calls, description: "NF4 weight dequantizations");
        var gpus = devices.Where(d => d.StartsWith("cuda:", StringComparison.Ordinal)).Select(d => int.Parse(d[5..])).Distinct().ToList();
        if (gpus.Count == 0) return;
        Meter.CreateObservableGauge("qst_gpu_memory_used_bytes", () => ReadGpus(gpus, m => m.UsedBytes),
            description: "Device memory in use (the driver's view: CUDA context plus PyTorch's reserved cache, all processes)");
        Meter.CreateObservableGauge("qst_gpu_memory_total_bytes", () => ReadGpus(gpus, m => m.TotalBytes), description: "Device memory");
    }

    static IEnumerable<Measurement<long>> ReadGpus(List<int> gpus, Func<(long UsedBytes, long TotalBytes), long> pick)
    {
        foreach (int index in gpus)
            if (GpuMemorySampler.ReadDevice(index) is { } memory)
                yield return new Measurement<long>(pick(memory), new KeyValuePair<string, object?>("device", $"cuda:{index}"));
    }
}
